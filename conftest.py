"""Shared fixtures: users with roles, API clients, and real worker / ASGI server processes.

Everything runs against the real PostgreSQL and Redis named by DATABASE_URL / REDIS_URL
(`python3 dev.py test` starts embedded ones when they are unset).
"""

import pytest
from django.conf import settings

from devtools.stack import child_env, start_asgi, start_worker


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Throttle counters live in the Redis cache; every test starts with none of ours."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    yield


@pytest.fixture(autouse=True)
def _no_bulk_loads_unless_asked(settings):
    """A bulk load leaves the description index to a restore job that most tests never run,
    and a transactional test's flush then forgets the record of it: later tests would find
    the index gone. Tests of bulk loads lower the threshold (and repair indexes) themselves."""
    settings.PRODUCT_BULK_LOAD_MIN_ROWS = 10**12


@pytest.fixture(autouse=True)
def enqueued_jobs(request, monkeypatch):
    """Jobs started by a test, in order. Only tests with a real worker send them to the broker:
    elsewhere a queued message could be picked up by the session's worker (started by an
    earlier end-to-end test) while the test runs the same job in-process."""
    sent = []
    if "celery_worker_process" not in request.fixturenames:
        monkeypatch.setattr("core.services.job_lifecycle._enqueue", sent.append)
    return sent


@pytest.fixture
def make_user(db):
    from core.models import User
    from core.services.roles import ensure_role_groups, set_role

    ensure_role_groups()
    counter = {"n": 0}

    def make(role="viewer", *, email=None, password="S3cure-pass-phrase!", **extra):
        counter["n"] += 1
        user = User.objects.create_user(
            email=email or f"{role}{counter['n']}@example.com", password=password, **extra
        )
        if role:
            set_role(user, role)
        return user

    return make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for(make_user):
    """`client_for("operator")` → an APIClient authenticated as a new user with that role."""
    from rest_framework.test import APIClient

    def build(role="viewer", **kwargs):
        user = make_user(role, **kwargs)
        client = APIClient()
        client.force_authenticate(user)
        client.user = user
        return client

    return build


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker (prefork, 2 processes) on every queue, against the test database."""
    with django_db_blocker.unblock():
        env = child_env()
    worker = start_worker(env, tmp_path_factory.mktemp("worker") / "worker.log")
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real uvicorn server running the project's ASGI app (HTTP + WebSockets)."""
    with django_db_blocker.unblock():
        env = child_env()
    server = start_asgi(env, tmp_path_factory.mktemp("asgi") / "uvicorn.log")
    yield server
    server.stop()
