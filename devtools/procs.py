"""Running child processes from the tooling with sane signal handling."""

from __future__ import annotations

import signal
import subprocess
import sys


def run_child(args: list[str], env: dict[str, str] | None = None) -> int:
    """Run `args` in the foreground and return its exit code (128+N when killed by signal N).

    Ctrl-C reaches the child directly from the terminal (same process group), so this process
    ignores SIGINT while waiting and lets the child finish its own clean-up (pytest drops its
    test database, migrate rolls back). A SIGTERM sent to this process is passed on.
    """
    proc = subprocess.Popen(args, env=env)

    def forward(signum, frame):
        proc.send_signal(signum)

    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, forward)
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
    # Killed by a signal: report it the way a shell does (SIGTERM -> 143), not as -15.
    return 128 - code if code < 0 else code


def manage(*args: str) -> int:
    """Run `python manage.py ARGS` with this interpreter."""
    return run_child([sys.executable, "manage.py", *args])
