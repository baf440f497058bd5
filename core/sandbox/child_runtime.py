"""Entry point of one sandboxed run: `python -m core.sandbox.child_runtime SPEC_FILE`.

Started by the worker (`core.services.sandbox.run_sandboxed`) in its own session / process
group, with a reduced environment, in the run's folder. Before anything of the target is
loaded it puts resource limits on itself (CPU time, address space, file size, open files, no
core dumps) and asks the kernel to kill it if the worker dies. Then it runs the spec's target:

- `{"command": [argv...]}`: replaces itself with that program (the limits, the process group
  and the death signal carry over the exec);
- `{"callable": "package.module:function", "payload": {...}}`: imports the function, calls it
  with the payload and writes the returned dict as JSON to the result file.

The exit status tells the worker what happened (protocol.EXIT_*).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import resource
import signal
import sys
import traceback

from core.sandbox.protocol import (
    EXIT_FAILED,
    EXIT_MEMORY,
    EXIT_OK,
    EXIT_OPEN_FILES,
    EXIT_SETUP,
    ChildError,
)

MB = 1024 * 1024


def apply_limits(limits: dict) -> None:
    """Set the rlimits of this process (inherited by anything it starts or execs)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = max(1, int(limits["cpu_seconds"]))
    # SIGXCPU at the soft limit; the kernel sends SIGKILL at the hard one should the
    # target ignore SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_mb"]) * MB
    if memory > 0:  # 0: no address-space limit (Chromium reserves terabytes of it)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = int(limits["file_size_mb"]) * MB
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    files = int(limits["open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    # Python ignores SIGXFSZ (writes then fail with EFBIG, which code may swallow); the
    # default action ends the process with a status that names the limit.
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when the worker that started it goes away."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker's group kill still applies
        pass
    if os.getppid() != parent_pid:  # the worker died before prctl took effect
        os._exit(EXIT_SETUP)


def _caused_by(exc: BaseException, predicate) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if predicate(exc):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _is_memory(exc) -> bool:
    return isinstance(exc, MemoryError)


def _is_too_many_files(exc) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE)


def _raw_stderr(text: str) -> None:
    """Write without allocating much: used when memory has run out."""
    with contextlib.suppress(Exception):  # best effort before a hard exit
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


def load_callable(reference: str):
    """`package.module:attribute.path` → the object."""
    module_name, _, qualname = reference.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _exec(command: list[str]) -> int:
    sys.stdout.flush()
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"sandbox: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)
    return EXIT_SETUP


def _call(reference: str, payload, result_file: str) -> int:
    try:
        summary = load_callable(reference)(payload)
        sys.stdout.flush()
        with open(result_file, "w", encoding="utf-8") as handle:
            json.dump(summary if summary is not None else {}, handle, default=str)
        return EXIT_OK
    except BaseException as exc:  # every ending is reported to the worker
        if _caused_by(exc, _is_memory):
            _raw_stderr("sandbox: the memory limit was reached (MemoryError)\n")
            os._exit(EXIT_MEMORY)
        if _caused_by(exc, _is_too_many_files):
            _raw_stderr("sandbox: the open files limit was reached (EMFILE)\n")
            os._exit(EXIT_OPEN_FILES)
        if isinstance(exc, SystemExit):
            raise
        if isinstance(exc, ChildError):
            print(f"ERROR: {exc}", file=sys.stderr)
        else:
            traceback.print_exc()
        return EXIT_FAILED


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m core.sandbox.child_runtime SPEC_FILE", file=sys.stderr)
        return EXIT_SETUP
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    apply_limits(spec["limits"])
    die_with_parent(int(spec["parent_pid"]))
    # One write per line, stdout and stderr into the same pipe: the worker sees lines as they
    # are printed and in the order they were printed.
    sys.stdout.reconfigure(line_buffering=True, errors="replace")
    sys.stderr.reconfigure(line_buffering=True, errors="replace")
    target = spec["target"]
    if "command" in target:
        return _exec(target["command"])
    return _call(target["callable"], target.get("payload"), spec["result_file"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
