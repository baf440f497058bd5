#!/usr/bin/env python3
"""One entry point for developers and CI, standard library only.

    python3 dev.py run [--flower]      # run the platform (web, worker, beat [, Flower])
    python3 dev.py test [pytest args]  # run the test-suite

It creates `.venv` when missing, installs the requirement file the command needs only when
its content changed since the last successful install, then re-executes
`.venv/bin/python -m devtools <command> [args]` so everything else runs inside the venv.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no install lock
    fcntl = None

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
COMMANDS = {
    "run": "requirements.txt",
    "test": "requirements-dev.txt",
    "bench": "requirements-dev.txt",
}
USAGE = """usage: python3 dev.py run [--flower]      run the platform (web, worker, beat [, Flower])
       python3 dev.py test [pytest args]  run the test-suite
       python3 dev.py bench NAME [args]   run bench/NAME.py (see README, Benchmarks)"""


def say(message: str) -> None:
    """Print one line of dev.py progress, flushed so it interleaves with child output."""
    print(f"[dev] {message}", flush=True)


def venv_python() -> Path:
    """Path of the venv's interpreter."""
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def venv_works() -> bool:
    """True when the venv's interpreter exists and starts (a moved or upgraded Python breaks it)."""
    python = venv_python()
    if not python.exists():
        return False
    result = subprocess.run([str(python), "-c", "pass"], capture_output=True)
    return result.returncode == 0


def ensure_venv() -> None:
    """Create `.venv` with the interpreter running this script, recreating a broken one."""
    if venv_works():
        return
    args = [sys.executable, "-m", "venv", str(VENV)]
    if VENV.exists():
        say(".venv exists but its Python does not start: recreating it")
        args.insert(3, "--clear")
    else:
        say(f"creating .venv with Python {sys.version.split()[0]}")
    result = subprocess.run(args)
    if result.returncode != 0:
        # Debian/Ubuntu ship `venv` without ensurepip unless python3-venv is installed.
        sys.exit(
            "dev.py: could not create .venv. On Debian/Ubuntu install the venv module first, "
            "e.g. `apt-get install python3-venv`."
        )


def requirement_closure(path: Path, seen: list[Path] | None = None) -> list[Path]:
    """The requirement file plus every file it pulls in with -r/-c, in a stable order."""
    seen = [] if seen is None else seen
    path = path.resolve()
    if path in seen:
        return seen
    seen.append(path)
    for raw in path.read_text(encoding="utf-8").splitlines():
        parts = shlex.split(raw, comments=True)
        # Plain indexing (no itertools.pairwise): dev.py must import on old Pythons too, to
        # tell their users that 3.11+ is needed.
        for index, flag in enumerate(parts[:-1]):
            if flag in ("-r", "--requirement", "-c", "--constraint"):
                requirement_closure(path.parent / parts[index + 1], seen)
    return seen


def requirements_digest(path: Path) -> str:
    """sha256 over the names and contents of a requirement file and the files it includes."""
    digest = hashlib.sha256()
    for file in requirement_closure(path):
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def stamp_path(path: Path) -> Path:
    """Where the digest of the last successful install of `path` is remembered."""
    return VENV / f".requirements-{path.stem}.sha256"


def is_installed(path: Path) -> bool:
    """True when the stamp says this exact content of `path` was installed successfully."""
    stamp = stamp_path(path)
    return stamp.is_file() and stamp.read_text().strip() == requirements_digest(path)


@contextlib.contextmanager
def setup_lock() -> Iterator[None]:
    """Serialise venv creation and installs: two dev.py started at once (a `run` and a `test`)
    must not run venv or pip into the same .venv. The lock is taken on dev.py itself, so no
    extra file is needed; it is released before handing over to devtools."""
    with open(__file__, "rb") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_requirements(name: str) -> None:
    """`pip install -r name` unless the same content was installed successfully before."""
    path = ROOT / name
    if not is_installed(path):
        pip_install(path)


def pip_install(path: Path) -> None:
    """Install `path` into the venv and stamp every file it covers."""
    name = path.name
    closure = requirement_closure(path)
    say(f"installing {name} into .venv (first run or requirements changed) ...")
    result = subprocess.run(
        [
            str(venv_python()),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(path),
        ],
        cwd=ROOT,
    )
    if result.returncode != 0:
        sys.exit(f"dev.py: `pip install -r {name}` failed (exit {result.returncode})")
    # Every file in the closure is now installed, so stamp each of them: after a
    # `test` install, `run` (requirements.txt, included by the dev file) needs no pip call.
    for file in closure:
        stamp_path(file).write_text(requirements_digest(file) + "\n")
    say(f"{name} installed")


def main(argv: list[str]) -> None:
    """Check the command, prepare the venv, and hand over to `python -m devtools`."""
    # Kept although the project targets 3.11: dev.py is what tells users of an older python3.
    if sys.version_info < (3, 11):  # noqa: UP036
        sys.exit(f"dev.py: Python 3.11+ is required, this is {sys.version.split()[0]}")
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        sys.exit(0 if argv and argv[0] in ("-h", "--help", "help") else 2)
    command, args = argv[0], argv[1:]
    with setup_lock():
        ensure_venv()
        ensure_requirements(COMMANDS[command])
    # devtools, manage.py and pytest all expect the repository root as working directory.
    os.chdir(ROOT)
    python = str(venv_python())
    os.execv(python, [python, "-m", "devtools", command, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
