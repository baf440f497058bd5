"""What a script sees while it runs in the sandboxed child: `RunContext` and `ScriptError`.

Django-free: the child never configures Django (it has no database password or secret key).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.sandbox.protocol import ChildError, progress_line
from scripts_runner.services.credentials import env_name


class ScriptError(ChildError):
    """Raised by a script to fail with a clear message (no traceback in the log)."""


class RunContext:
    """Handed to `Script.run`: output, progress, the run's folders and declared credentials."""

    def __init__(self, *, script: str, job_dir: str, data_dir: str, job_id: str = ""):
        self.script = script
        self.job_id = job_id
        #: The run's own folder (also the working directory and HOME).
        self.job_dir = Path(job_dir)
        #: Root of the platform's data files; file parameters are already confined to it.
        self.data_dir = Path(data_dir)

    def log(self, *parts) -> None:
        """Print one line of output (stdout is line-buffered: it is streamed at once)."""
        print(*parts)

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress 0-100; the worker turns the line into a `job_progress` event."""
        print(progress_line(percent, message))

    def credential(self, name: str) -> str | None:
        """The value of a credential the script declared, or None when not configured."""
        return os.environ.get(env_name(name)) or None

    def warn(self, message: str) -> None:
        print(f"WARNING: {message}", file=sys.stderr)
