"""What the worker side (`core.services.sandbox`) and the child (`core.sandbox.child_runtime`)
agree on: resource limits, exit codes, environment variables and the PROGRESS line.

Django-free: imported by the child, and by code that runs there (e.g. a script's context).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: The child's exit status. A limit hit through a Python exception (MemoryError, EMFILE) gets
#: its own code, since the process survives it; limits the kernel enforces (SIGXCPU, SIGXFSZ,
#: SIGKILL) show as the terminating signal instead.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_MEMORY = 121
EXIT_OPEN_FILES = 122
EXIT_SETUP = 123

#: Marks every process of one run (inherited through the environment), for the final sweep.
RUN_TOKEN_VAR = "SANDBOX_RUN_TOKEN"  # noqa: S105 - a variable name, not a secret
#: Where the child may leave a JSON object, the run's summary (a callable's return value).
RESULT_FILE_VAR = "SANDBOX_RESULT_FILE"

PROGRESS_PREFIX = "PROGRESS"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (rlimits the child sets on itself).

    `memory_mb` is an address-space limit (RLIMIT_AS); 0 sets none, for programs that
    reserve far more virtual memory than they use (V8, Chromium: Playwright cannot start
    under any practical limit). CPU time, file size and open files still apply.
    """

    cpu_seconds: int = 300
    memory_mb: int = 1024
    file_size_mb: int = 1024
    open_files: int = 256

    def as_dict(self) -> dict:
        return asdict(self)


class ChildError(Exception):
    """Raised by code running in the child to fail with its message only (no traceback)."""


def progress_line(percent: float, message: str = "") -> str:
    """The output line the worker turns into a progress update: `PROGRESS <0-100> [message]`."""
    percent = max(0, min(100, int(percent)))
    message = " ".join(str(message).split())  # one line, whatever the caller passed
    return f"{PROGRESS_PREFIX} {percent} {message}".rstrip()
