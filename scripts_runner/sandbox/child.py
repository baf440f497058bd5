"""Entry point of one sandboxed script run: `python -m scripts_runner.sandbox.child SPEC`.

Started by the worker (`scripts_runner.services.sandbox`) in its own session / process group,
with a reduced environment, in the run's folder. Before importing anything of the script it
puts resource limits on itself (CPU time, address space, file size, open files, no core
dumps), and asks the kernel to kill it if the worker dies. It then runs the script's `run`
and writes the returned summary as JSON for the worker.

The exit status tells the worker what happened (see EXIT_*): a limit hit through a Python
exception (MemoryError, EMFILE) gets its own code, since the process itself survives it;
limits enforced by the kernel (SIGXCPU, SIGXFSZ, SIGKILL) show as the terminating signal.
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

EXIT_OK = 0
EXIT_SCRIPT_FAILED = 1
EXIT_MEMORY = 121
EXIT_OPEN_FILES = 122
EXIT_SETUP = 123

MB = 1024 * 1024


def apply_limits(limits: dict) -> None:
    """Set the rlimits of this process (inherited by anything it starts)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = max(1, int(limits["cpu_seconds"]))
    # SIGXCPU at the soft limit; the kernel sends SIGKILL at the hard one should the
    # script ignore SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_mb"]) * MB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = int(limits["file_size_mb"]) * MB
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    files = int(limits["open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    # Python ignores SIGXFSZ (writes then fail with EFBIG, which a script may swallow);
    # the default action ends the process with a status that names the limit.
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


def _load(module_name: str, qualname: str):
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m scripts_runner.sandbox.child SPEC_FILE", file=sys.stderr)
        return EXIT_SETUP
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    apply_limits(spec["limits"])
    die_with_parent(int(spec["parent_pid"]))
    # One write per line, stdout and stderr into the same pipe: the worker sees lines as they
    # are printed and in the order they were printed.
    sys.stdout.reconfigure(line_buffering=True, errors="replace")
    sys.stderr.reconfigure(line_buffering=True, errors="replace")
    from scripts_runner.sandbox.runtime import RunContext, ScriptError

    try:
        script_cls = _load(spec["module"], spec["qualname"])
        ctx = RunContext(
            script=spec["script"],
            job_dir=spec["job_dir"],
            data_dir=spec["data_dir"],
            job_id=spec.get("job_id", ""),
        )
        summary = script_cls().run(spec["params"], ctx) or {}
        sys.stdout.flush()
        with open(spec["result_file"], "w", encoding="utf-8") as handle:
            json.dump(summary, handle, default=str)
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
        if isinstance(exc, ScriptError):
            print(f"ERROR: {exc}", file=sys.stderr)
        else:
            traceback.print_exc()
        return EXIT_SCRIPT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
