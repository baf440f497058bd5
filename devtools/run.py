"""`dev.py run [--flower]`: migrate, collect static files, ensure an admin, then web + worker +
beat (+ Flower)."""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import socket
import sys
from pathlib import Path

from devtools import ROOT, VAR_DIR, rel, say
from devtools.procs import manage
from devtools.services import embedded_services
from devtools.stack import FLOWER_CONFIG, UVICORN_WS_ARGS, WORKER_QUEUES

DEFAULT_FLOWER_PORT = 5555
#: The local Flower password (user `flower`) when FLOWER_BASIC_AUTH is not set.
FLOWER_PASSWORD_FILE = VAR_DIR / "flower_password"


def processes(port: int, *, flower_port: int | None = None) -> dict[str, str]:
    """The platform processes as shell commands, run with this venv's interpreter: web,
    worker and beat, and Flower on `flower_port` when given."""
    python = shlex.quote(sys.executable)
    commands = {
        "web": f"{python} -m uvicorn config.asgi:application --host 127.0.0.1 --port {port} "
        + " ".join(UVICORN_WS_ARGS),
        "worker": f"{python} -m celery -A config worker -l info -E -Q {WORKER_QUEUES} "
        "--concurrency 2",
        "beat": f"{python} -m celery -A config beat -l info "
        "-S django_celery_beat.schedulers:DatabaseScheduler",
    }
    if flower_port is not None:
        commands["flower"] = (
            f"{python} -m celery -A config flower --conf={FLOWER_CONFIG} "
            f"--address=127.0.0.1 --port={flower_port}"
        )
    return commands


def parse_args(args: list[str]) -> argparse.Namespace:
    """`dev.py run` options; exits with a usage message on anything else."""
    parser = argparse.ArgumentParser(
        prog="python3 dev.py run",
        description="Run the platform: web, Celery worker and beat (PORT=... sets the port).",
    )
    parser.add_argument(
        "--flower",
        action="store_true",
        help="also run Flower, the Celery monitor, on 127.0.0.1:$FLOWER_PORT (default "
        f"{DEFAULT_FLOWER_PORT}); basic auth from FLOWER_BASIC_AUTH=user:password, else user "
        f"'flower' with a password generated in {FLOWER_PASSWORD_FILE.relative_to(ROOT)}",
    )
    return parser.parse_args(args)


def run(args: list[str]) -> int:
    """Run the platform until Ctrl-C / SIGTERM; return the exit code."""
    try:
        options = parse_args(args)
    except SystemExit as exit_:  # argparse printed the usage or the help
        return exit_.code if isinstance(exit_.code, int) else 2
    ports = {"PORT": int(os.environ.get("PORT") or 8000)}
    if options.flower:
        ports["FLOWER_PORT"] = int(os.environ.get("FLOWER_PORT") or DEFAULT_FLOWER_PORT)
    for variable, number in ports.items():
        if not _port_is_free(number):
            say(
                f"port {number} on 127.0.0.1 is in use; stop what uses it or run with "
                f"{variable}=<other>"
            )
            return 1

    if not os.environ.get("SECRET_KEY"):
        # The settings refuse a missing key; a local run keeps its own, generated once.
        os.environ["SECRET_KEY"] = _local_secret(VAR_DIR / "secret_key", nbytes=50)
    flower_auth = _ensure_flower_credentials() if options.flower else ""

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
        return _serve(ports["PORT"], ports.get("FLOWER_PORT"), flower_auth)


def _serve(port: int, flower_port: int | None, flower_auth: str) -> int:
    """Run web, worker, beat (and Flower) under honcho with prefixed, interleaved output."""
    from honcho.manager import Manager

    env = dict(os.environ)
    env["PORT"] = str(port)
    env["PYTHONUNBUFFERED"] = "1"  # lines show up as they are printed, not per 4 KiB block
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])

    base = f"http://127.0.0.1:{port}"
    flower = f"  flower    http://127.0.0.1:{flower_port}/ ({flower_auth})\n" if flower_port else ""
    print(
        f"\n  admin     {base}/admin/\n  API docs  {base}/api/docs/\n  health    {base}/health\n"
        f"{flower}"
        f"\n  data in {VAR_DIR.relative_to(ROOT)}/ (kept between runs); Ctrl-C stops everything\n",
        flush=True,
    )
    manager = Manager()
    for name, command in processes(port, flower_port=flower_port).items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    # honcho handles SIGINT/SIGTERM itself: it sends SIGTERM to every process group, waits
    # for them (SIGKILL after 5 s), and returns; the embedded servers are stopped after that.
    manager.loop()
    return manager.returncode or 0


def _ensure_flower_credentials() -> str:
    """Set FLOWER_BASIC_AUTH unless given (Flower never runs unprotected, see
    config/flowerconfig.py); return where the operator finds the credentials."""
    if os.environ.get("FLOWER_BASIC_AUTH"):
        return "credentials from FLOWER_BASIC_AUTH"
    password = _local_secret(FLOWER_PASSWORD_FILE, nbytes=24)
    os.environ["FLOWER_BASIC_AUTH"] = f"flower:{password}"
    return f"user flower, password in {rel(FLOWER_PASSWORD_FILE)}"


def _local_secret(path: Path, *, nbytes: int) -> str:
    """A random secret kept in var/ (mode 0600), the same on every run (so sessions and a
    bookmarked Flower login survive restarts)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(nbytes))
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
