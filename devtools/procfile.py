"""The Procfile is the one list of the platform's processes and of the queues its worker serves.

`dev.py run`, the test stack (devtools.stack) and the deployment-file tests read it from
here, so a queue added to the Procfile reaches every worker the tooling starts.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from devtools import ROOT

PROCFILE = ROOT / "Procfile"


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    """Process name -> command line, in file order; blank lines and `#` comments skipped."""
    commands: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, command = line.partition(":")
        if not separator or not name.strip().isidentifier() or not command.strip():
            raise ValueError(f"{path.name}:{number}: expected `name: command`, got {raw!r}")
        commands[name.strip()] = command.strip()
    return commands


def option_value(command: str, *flags: str) -> str:
    """The value of the first of `flags` in `command` (`-Q a,b` or `--queues=a,b`)."""
    words = shlex.split(command)
    for index, word in enumerate(words):
        for flag in flags:
            if word == flag and index + 1 < len(words):
                return words[index + 1]
            if word.startswith(f"{flag}="):
                return word.split("=", 1)[1]
    raise ValueError(f"none of {', '.join(flags)} in {command!r}")


def worker_queues(path: Path = PROCFILE) -> str:
    """The comma-separated queues the Procfile's `worker` process consumes (its -Q value)."""
    return option_value(procfile_commands(path)["worker"], "-Q", "--queues")
