"""Shared fixtures: users with roles, API clients, and real worker / ASGI server processes.

Everything runs against the real PostgreSQL and Redis named by DATABASE_URL / REDIS_URL
(`python3 dev.py test` starts embedded ones when they are unset).
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent
WORKER_QUEUES = "default,imports,webhooks,scripts,sync,ai"


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Throttle counters live in the Redis cache; every test starts with none of ours."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    yield


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env() -> dict:
    """Environment for child processes: same settings, same test database, same prefixes."""
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    env["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    env["CHANNEL_PREFIX"] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    env["CELERY_KEY_PREFIX"] = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    env["CACHE_KEY_PREFIX"] = settings.CACHES["default"]["KEY_PREFIX"]
    host = db["HOST"] or ""
    if host.startswith("/"):
        host = host.replace("/", "%2F")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env["DATABASE_URL"] = f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}"
    env["PYTHONPATH"] = str(ROOT)
    return env


class ManagedProcess:
    def __init__(self, name, args, env, log_path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        self._log.close()


def _wait_for(check, timeout, what, process):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{process.output()[-4000:]}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {timeout}s:\n{process.output()[-4000:]}")


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker (prefork, 2 processes) on every queue, against the test database."""
    with django_db_blocker.unblock():
        env = service_env()
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = ManagedProcess(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "-Q",
            WORKER_QUEUES,
            "-c",
            "2",
            "-n",
            f"test-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        log,
    )
    _wait_for(lambda: b"ready." in Path(log).read_bytes(), 60, "celery worker", worker)
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real uvicorn server running the project's ASGI app (HTTP + WebSockets)."""
    with django_db_blocker.unblock():
        env = service_env()
    port = free_port()
    log = tmp_path_factory.mktemp("asgi") / "uvicorn.log"
    server = ManagedProcess(
        "asgi",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env,
        log,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(up, 60, "uvicorn", server)
    server.base_url = base
    server.ws_url = f"ws://127.0.0.1:{port}"
    yield server
    server.stop()
