"""`dev.py run`: migrate, collect static files, ensure an admin, then web + worker + beat."""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import sys
from pathlib import Path

from devtools import ROOT, VAR_DIR, say
from devtools.procs import manage
from devtools.services import embedded_services
from devtools.stack import UVICORN_WS_ARGS, WORKER_QUEUES


def processes(port: int) -> dict[str, str]:
    """The three platform processes as shell commands, run with this venv's interpreter."""
    python = shlex.quote(sys.executable)
    return {
        "web": f"{python} -m uvicorn config.asgi:application --host 127.0.0.1 --port {port} "
        + " ".join(UVICORN_WS_ARGS),
        "worker": f"{python} -m celery -A config worker -l info -Q {WORKER_QUEUES} --concurrency 2",
        "beat": f"{python} -m celery -A config beat -l info "
        "-S django_celery_beat.schedulers:DatabaseScheduler",
    }


def run(args: list[str]) -> int:
    """Run the platform until Ctrl-C / SIGTERM; return the exit code."""
    if args:
        say(
            f"`dev.py run` takes no arguments (got {' '.join(args)}); set PORT=... to change "
            "the port"
        )
        return 2
    port = int(os.environ.get("PORT") or 8000)
    if not _port_is_free(port):
        say(f"port {port} on 127.0.0.1 is in use; stop what uses it or run with PORT=<other>")
        return 1

    if not os.environ.get("SECRET_KEY"):
        # The settings refuse a missing key; a local run keeps its own, generated once.
        os.environ["SECRET_KEY"] = _local_secret_key(VAR_DIR / "secret_key")

    with embedded_services(VAR_DIR, persistent=True):
        for step in (
            ("migrate", "--noinput"),
            ("collectstatic", "--noinput"),
            ("ensure_admin",),
        ):
            say(f"manage.py {' '.join(step)}")
            code = manage(*step)
            if code != 0:
                say(f"manage.py {step[0]} failed (exit {code}); not starting the platform")
                return code or 1
        return _serve(port)


def _serve(port: int) -> int:
    """Run web, worker and beat under honcho with prefixed, interleaved output."""
    from honcho.manager import Manager

    env = dict(os.environ)
    env["PORT"] = str(port)
    env["PYTHONUNBUFFERED"] = "1"  # lines show up as they are printed, not per 4 KiB block
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])

    base = f"http://127.0.0.1:{port}"
    print(
        f"\n  admin     {base}/admin/\n  API docs  {base}/api/docs/\n  health    {base}/health\n"
        f"\n  data in {VAR_DIR.relative_to(ROOT)}/ (kept between runs); Ctrl-C stops everything\n",
        flush=True,
    )
    manager = Manager()
    for name, command in processes(port).items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    # honcho handles SIGINT/SIGTERM itself: it sends SIGTERM to every process group, waits
    # for them (SIGKILL after 5 s), and returns; the embedded servers are stopped after that.
    manager.loop()
    return manager.returncode or 0


def _local_secret_key(path: Path) -> str:
    """A random SECRET_KEY kept in var/ (mode 0600), so sessions survive restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _port_is_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound (uvicorn would otherwise fail after start-up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
