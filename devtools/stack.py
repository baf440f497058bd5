"""Starting the platform's own processes (Celery worker, uvicorn) for tests and benchmarks.

The end-to-end tests (core/testing/fixtures.py) and the benchmarks under bench/ use the same
code, so a benchmark measures exactly the stack the tests prove.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from devtools.procfile import worker_queues

ROOT = Path(__file__).resolve().parent.parent
#: Every queue the platform uses, as the Procfile's worker consumes them (the one list).
WORKER_QUEUES = worker_queues()
# Per-message compression cost more CPU than anything else on the live stream's hot path
# (profiled: ~25% of the server's time at 15k lines/s); log lines are small, so it is off.
UVICORN_WS_ARGS = ["--ws-per-message-deflate", "false"]
#: Flower's options (basic auth required), relative to ROOT as the Procfile names it.
FLOWER_CONFIG = "config/flowerconfig.py"


def access_token(base_url: str, email: str, password: str) -> str:
    """Log in to a running stack over the API and return the access JWT."""
    response = httpx.post(
        f"{base_url}/api/auth/login", json={"email": email, "password": password}, timeout=30
    )
    if response.status_code != 200:
        raise AssertionError(f"login as {email}: {response.status_code} {response.text}")
    return response.json()["access"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagedProcess:
    """A child process in its own session, output to a log file, stopped with its group."""

    def __init__(self, name: str, args: list[str], env: dict, log_path: Path):
        self.name = name
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited early:\n{self.output()[-4000:]}")
            if check():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not start in {timeout}s:\n{self.output()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        self._log.close()


def start_worker(
    env: dict, log_path: Path, *, concurrency: int = 2, queues: str = WORKER_QUEUES
) -> ManagedProcess:
    """A real Celery worker (prefork) on `queues` (every queue by default); returns once it is
    ready. `.node` is its Celery node name, as jobs record it in `Job.worker`."""
    node = f"w{os.getpid()}-{free_port()}@{socket.gethostname()}"
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
            "-E",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            node,
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        log_path,
    )
    worker.node = node
    worker.wait_for(lambda: b"ready." in worker.log_path.read_bytes(), 60, "celery worker")
    return worker


def start_flower(env: dict, log_path: Path, *, basic_auth: str) -> ManagedProcess:
    """Flower as the Procfile starts it, on a free 127.0.0.1 port; sets `.base_url`.

    `basic_auth` is the FLOWER_BASIC_AUTH value (user:password) it is protected with.
    """
    port = free_port()
    flower = ManagedProcess(
        "flower",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "flower",
            f"--conf={FLOWER_CONFIG}",
            "--address=127.0.0.1",
            f"--port={port}",
        ],
        {**env, "FLOWER_BASIC_AUTH": basic_auth},
        log_path,
    )
    flower.base_url = f"http://127.0.0.1:{port}"

    def up() -> bool:  # /healthcheck is the one page Flower serves without credentials
        try:
            return httpx.get(f"{flower.base_url}/healthcheck", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    flower.wait_for(up, 60, "flower")
    return flower


def start_asgi(
    env: dict, log_path: Path, *, extra_args: tuple = (), timeout: float = 60
) -> ManagedProcess:
    """uvicorn serving config.asgi (HTTP + WebSockets); sets `.base_url`, `.ws_url` and
    `.port`. `extra_args` go to uvicorn (e.g. `--workers 2`)."""
    port = free_port()
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
            *UVICORN_WS_ARGS,
            *extra_args,
        ],
        env,
        log_path,
    )
    server.base_url = f"http://127.0.0.1:{port}"
    server.ws_url = f"ws://127.0.0.1:{port}"
    server.port = port

    def up() -> bool:
        try:
            return httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    server.wait_for(up, timeout, "uvicorn")
    return server


def child_env(settings_module: str = "config.settings_test") -> dict:
    """Environment for child processes of a Django process that is already set up: the same
    database (incl. a test database), Redis prefixes and settings module."""
    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["CHANNEL_PREFIX"] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    env["CELERY_KEY_PREFIX"] = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    env["CACHE_KEY_PREFIX"] = settings.CACHES["default"]["KEY_PREFIX"]
    env["DATABASE_URL"] = database_url(db)
    env["PYTHONPATH"] = str(ROOT)
    return env


def database_url(db: dict) -> str:
    """A DATABASE_URL for a Django database settings dict (HOST may be a socket directory)."""
    host = db.get("HOST") or ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    user = quote(str(db.get("USER") or ""), safe="")
    password = f":{quote(str(db['PASSWORD']), safe='')}" if db.get("PASSWORD") else ""
    if host.startswith("/"):
        # A unix socket directory: the form django-environ parses (see devtools.services).
        return f"postgres://{user}{password}@{port}/{quote(host, safe='')}/{db['NAME']}"
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"
