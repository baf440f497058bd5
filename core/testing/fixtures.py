"""The platform's shared fixtures: users with roles, API and console clients, a private data
directory, and real worker / ASGI server processes. Registered once for the whole suite by the
root conftest.py (`pytest_plugins`); an app's own shared fixtures live in `<app>/testing/`.

Everything runs against the real PostgreSQL and Redis named by DATABASE_URL / REDIS_URL
(`python3 dev.py test` starts embedded ones when they are unset).
"""

import pytest
from django.conf import settings

from devtools.stack import child_env, start_asgi, start_worker

# --- isolation (autouse) --------------------------------------------------------------------


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
def enqueued_jobs(request, monkeypatch):
    """Jobs started by a test, in order. Only tests with a real worker send them to the broker:
    elsewhere a queued message could be picked up by the session's worker (started by an
    earlier end-to-end test) while the test runs the same job in-process."""
    sent = []
    if "celery_worker_process" not in request.fixturenames:
        monkeypatch.setattr("core.services.job_lifecycle._enqueue", sent.append)
    return sent


# --- users and clients ----------------------------------------------------------------------


@pytest.fixture
def make_user(db):
    """`make_user(role="viewer", *, email=None, password=..., **fields)` → a new user with that
    platform role (None: no role at all). Emails are unique within the test."""
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
    """An APIClient that is not signed in."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for(make_user):
    """`client_for("operator", **user_fields)` → an APIClient authenticated as a new user with
    that role (`.user` is the user). Call it twice for two different users."""
    from rest_framework.test import APIClient

    def build(role="viewer", **kwargs):
        user = make_user(role, **kwargs)
        client = APIClient()
        client.force_authenticate(user)
        client.user = user
        return client

    return build


@pytest.fixture
def viewer(client_for):
    """An APIClient signed in as a viewer (reads only)."""
    return client_for("viewer")


@pytest.fixture
def operator(client_for):
    """An APIClient signed in as an operator (reads and writes)."""
    return client_for("operator")


@pytest.fixture
def admin(client_for):
    """An APIClient signed in as an admin (everything, users included)."""
    return client_for("admin")


@pytest.fixture
def console_client_for(make_user):
    """`console_client_for(role="admin", **user_fields)` → a Django test Client signed in to
    the operator console (/admin/) as a new staff user with that role (`.user` is the user)."""
    from django.test import Client

    def build(role="admin", **kwargs):
        kwargs.setdefault("is_staff", True)
        user = make_user(role, **kwargs)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return build


@pytest.fixture
def superuser(make_user):
    """A staff superuser with the admin role."""
    return make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(superuser):
    """A Django test Client signed in to the operator console as `superuser`."""
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    client.user = superuser
    return client


# --- files ----------------------------------------------------------------------------------


@pytest.fixture
def data_dir(settings, tmp_path):
    """settings.DATA_DIR pointed at an empty folder of the test's own (uploads, downloads,
    script inputs and outputs land here)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


# --- real processes (end-to-end tests) ------------------------------------------------------


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
