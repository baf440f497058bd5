"""Runs untrusted work in a sandboxed child process and streams its output, line by line.

One service for every app that runs code it does not trust with the worker's secrets:
scripts (scripts_runner) and user functions (projects).

    spec = SandboxSpec.for_callable(
        "projects.sandbox.entry:run_function",   # imported and called in the child
        payload={"function_id": 7, "input": {...}},  # JSON; the return value is the summary
        workdir=Path(...) / str(job.id),         # cwd, HOME and TMPDIR of the child
        limits=Limits(cpu_seconds=10, memory_mb=256),
        timeout=30,
        env={"API_TOKEN": token},                # added to the reduced environment
        secrets=[token],                         # replaced by [REDACTED] in every line
    )
    outcome = run_in_job(ctx, spec)              # or run_sandboxed(spec, on_lines=...)
    outcome.status                               # completed | failed | cancelled
    outcome.summary, outcome.limit, outcome.error

`SandboxSpec.for_command(["program", "arg"], ...)` runs a program instead of a callable.

The child (`python -P -s -B -m core.sandbox.child_runtime SPEC`) runs in its own session /
process group, in its folder, with an environment reduced to an allowlist plus what the spec
adds; it sets its own rlimits before it loads the target. This module:

- reads the child's merged stdout/stderr as it comes (a 64 KiB read takes whatever is
  there, so lines are forwarded in batches under load without per-line latency when idle),
  hands complete lines to `on_lines` in order and `PROGRESS <0-100> [message]` lines to
  `on_progress`;
- enforces the wall-clock timeout and cancellation by killing the whole process group;
- after the run, kills whatever the child left behind: its process group, and processes
  that left the group (setsid) but carry the run's token in their environment;
- tells which limit, if any, ended the run, from the exit status and resource usage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from core.sandbox.protocol import (
    EXIT_MEMORY,
    EXIT_OPEN_FILES,
    EXIT_SETUP,
    PROGRESS_PREFIX,
    RESULT_FILE_VAR,
    RUN_TOKEN_VAR,
    Limits,
)
from core.services.job_watchdog import kill_process_group

#: Environment variable naming the job a sandboxed process belongs to.
JOB_ID_VAR = "SANDBOX_JOB_ID"

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "Limits",
    "Outcome",
    "SandboxSpec",
    "remove_workdir",
    "run_in_job",
    "run_sandboxed",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
READ_SIZE = 1 << 16
# Reads per loop turn before cancellation and the deadline are checked again.
READS_PER_TURN = 16
POLL_MS = 50
# A line without a newline is cut here (the job log caps lines at 10 000 characters anyway).
MAX_LINE_BYTES = 64 * 1024
TAIL_LINES = 20
RESULT_MAX_BYTES = 1024 * 1024
# Secrets shorter than this are not redacted: replacing "abc" everywhere would garble output.
MIN_SECRET_CHARS = 4
# Environment variables copied from the worker when set: none of them carries a secret.
BASE_ENV_ALLOWLIST = ("PATH", "LANG", "LC_ALL", "TZ")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# Folder of a run's spec and result files, inside its working folder.
CONTROL_DIR = ".sandbox"

# A label names files in the control folder: no separators, no "..".
LABEL_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
PROGRESS_RE = re.compile(rf"^{PROGRESS_PREFIX}\s+(\d{{1,3}}(?:\.\d+)?)(?:\s+(.*?))?\s*$")

COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass
class SandboxSpec:
    """Everything one sandboxed run needs. Build it with `for_callable` or `for_command`."""

    #: {"callable": "module:function", "payload": {...}} or {"command": [argv...]}.
    target: dict
    #: The run's own folder: working directory, HOME, TMPDIR (`tmp/`), spec files (`.sandbox/`).
    workdir: Path
    limits: Limits = field(default_factory=Limits)
    #: Wall-clock seconds before the whole process group is killed.
    timeout: float = 600
    #: Variables added to the reduced environment (e.g. a credential the run needs).
    env: dict[str, str] = field(default_factory=dict)
    #: Values replaced by [REDACTED] in every output line (credentials given in `env`).
    secrets: Iterable[str] = ()
    #: Further worker variables copied when set (e.g. HTTPS_PROXY); never secrets.
    env_allowlist: Iterable[str] = ()
    #: Names the spec/result files (several runs may share a folder, e.g. workflow steps).
    label: str = "run"
    #: How messages name what ran: "Memory limit exceeded: the script needed more than ...".
    subject: str = "the process"

    def __post_init__(self):
        if not LABEL_RE.fullmatch(self.label):
            raise ValueError(f"A sandbox label is a plain file name part, not {self.label!r}.")
        self.workdir = Path(self.workdir)
        self.secrets = tuple(self.secrets)
        self.env_allowlist = tuple(self.env_allowlist)

    @classmethod
    def for_callable(cls, reference: str, payload=None, **options) -> SandboxSpec:
        """Call `package.module:function(payload)` in the child; its dict is the summary."""
        if ":" not in reference:
            raise ValueError("A callable is named 'package.module:function'.")
        return cls(target={"callable": reference, "payload": payload}, **options)

    @classmethod
    def for_command(cls, argv: list[str], **options) -> SandboxSpec:
        """Run the program `argv` in the child; it may write a JSON summary to the file named
        by $SANDBOX_RESULT_FILE."""
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise ValueError("A command is a non-empty list of strings.")
        return cls(target={"command": list(argv)}, **options)

    @property
    def control_dir(self) -> Path:
        return self.workdir / CONTROL_DIR

    @property
    def result_file(self) -> Path:
        return self.control_dir / f"{self.label}.result.json"


@dataclass
class Outcome:
    """How a sandboxed run ended."""

    status: str  # completed | failed | cancelled
    exit_code: int | None = None
    signal: int | None = None
    #: "timeout", "cpu", "memory", "file_size", "open_files" or None.
    limit: str | None = None
    message: str = ""
    tail: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    duration: float = 0.0
    cpu_seconds: float = 0.0
    lines: int = 0

    @property
    def error(self) -> str:
        """The failure message followed by the last lines of output (for job.error)."""
        tail = [line for line in self.tail if line.strip()]
        if not tail:
            return self.message
        return self.message + "\nLast output:\n" + "\n".join(tail)


def build_env(spec: SandboxSpec, token: str) -> dict[str, str]:
    """The child's whole environment: an allowlist, never the worker's secrets."""
    env = {}
    for name in (*BASE_ENV_ALLOWLIST, *spec.env_allowlist):
        if name in os.environ:
            env[name] = os.environ[name]
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("LANG", "C.UTF-8")
    env.setdefault("TZ", "UTC")
    env.update(
        {
            "HOME": str(spec.workdir),
            "TMPDIR": str(spec.workdir / "tmp"),
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            RUN_TOKEN_VAR: token,
            RESULT_FILE_VAR: str(spec.result_file),
        }
    )
    env.update(spec.env)
    return env


def child_command(spec_path: Path) -> list[str]:
    # -P: the run's folder (which may hold downloaded files) never shadows a module;
    # -s: no user site-packages from HOME; -B: no .pyc written into the repository.
    return [sys.executable, "-P", "-s", "-B", "-m", "core.sandbox.child_runtime", str(spec_path)]


def _write_spec(spec: SandboxSpec) -> Path:
    spec.control_dir.mkdir(parents=True, exist_ok=True)
    (spec.workdir / "tmp").mkdir(exist_ok=True)
    spec_path = spec.control_dir / f"{spec.label}.spec.json"
    with contextlib.suppress(FileNotFoundError):
        spec.result_file.unlink()
    document = {
        "target": spec.target,
        "limits": spec.limits.as_dict(),
        "result_file": str(spec.result_file),
        "parent_pid": os.getpid(),
    }
    spec_path.write_text(json.dumps(document, default=str), encoding="utf-8")
    return spec_path


def remove_workdir(root: str | os.PathLike, name: str) -> bool:
    """Delete the run folder `root/name` (its job is gone), never anything outside `root`."""
    root = os.path.realpath(root)
    folder = os.path.realpath(os.path.join(root, str(name)))
    if os.path.dirname(folder) != root or not os.path.isdir(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


class _LineSplitter:
    """Turns the child's byte stream into lines and PROGRESS events, in order."""

    def __init__(self, on_lines, on_progress, secrets):
        self._on_lines = on_lines
        self._on_progress = on_progress
        self._secrets = [s for s in secrets if s and len(s) >= MIN_SECRET_CHARS]
        self._pending = b""
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.count = 0
        # Off once the run is over: a late progress update must not raise (JobCancelled)
        # while the worker is cleaning up.
        self.progress_enabled = True

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > MAX_LINE_BYTES:
                self._pending = b""
                self._emit(data.decode("utf-8", "replace"))
            else:
                self._pending = data
            return
        self._pending = data[cut + 1 :]
        self._emit(data[:cut].decode("utf-8", "replace"))

    def finish(self) -> None:
        if self._pending:
            data, self._pending = self._pending, b""
            self._emit(data.decode("utf-8", "replace"))

    def _emit(self, text: str) -> None:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED]")
        lines = text.split("\n")
        if PROGRESS_PREFIX not in text:  # the common case: one call for the whole chunk
            self._lines(lines)
            return
        batch = []
        for line in lines:
            match = PROGRESS_RE.match(line) if line.startswith(PROGRESS_PREFIX) else None
            if match and float(match[1]) <= 100:
                if batch:
                    self._lines(batch)
                    batch = []
                if self.progress_enabled:
                    self._on_progress(float(match[1]), match[2] or "")
            else:
                batch.append(line)
        if batch:
            self._lines(batch)

    def _lines(self, lines: list[str]) -> None:
        self.count += len(lines)
        self.tail.extend(lines[-TAIL_LINES:])
        self._on_lines(lines)


def sweep_run_processes(token: str) -> int:
    """Kill processes that escaped the process group (setsid) but carry the run's token."""
    return _kill_processes_with(RUN_TOKEN_VAR, token)


def sweep_job_processes(job_id) -> int:
    """Kill what is left of a job's sandboxed runs on this machine (its worker died, so no
    run ended them): every process carrying the job's id in its environment."""
    return _kill_processes_with(JOB_ID_VAR, str(job_id))


def _kill_processes_with(variable: str, value: str) -> int:
    killed = 0
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(variable) == value:
                proc.kill()
                killed += 1
        except (psutil.Error, OSError):
            continue
    return killed


def describe_limit(limit: str, spec: SandboxSpec) -> str:
    """The job error for a run ended by `limit`, naming the limit and its value."""
    limits, subject = spec.limits, spec.subject
    return {
        "timeout": f"Wall-clock timeout: {subject} ran longer than {spec.timeout:g} s and was "
        "killed.",
        "cpu": f"CPU time limit exceeded: {subject} used its {limits.cpu_seconds} s of CPU "
        "time and was killed.",
        "memory": f"Memory limit exceeded: {subject} needed more than its "
        f"{limits.memory_mb} MB of address space.",
        "file_size": f"File size limit exceeded: {subject} tried to write a file larger than "
        f"{limits.file_size_mb} MB.",
        "open_files": f"Open files limit exceeded: {subject} tried to have more than "
        f"{limits.open_files} files open.",
    }[limit]


def _classify(status: int, cpu_seconds: float, spec: SandboxSpec) -> tuple[str | None, str]:
    """(limit, message) for a finished child's wait status."""
    subject = spec.subject[:1].upper() + spec.subject[1:]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (
            sig == signal.SIGKILL and cpu_seconds >= spec.limits.cpu_seconds - 0.05
        ):
            return "cpu", describe_limit("cpu", spec)
        if sig == signal.SIGXFSZ:
            return "file_size", describe_limit("file_size", spec)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return None, f"{subject} was killed by signal {name}."
    code = os.WEXITSTATUS(status)
    if code == EXIT_MEMORY:
        return "memory", describe_limit("memory", spec)
    if code == EXIT_OPEN_FILES:
        return "open_files", describe_limit("open_files", spec)
    if code == EXIT_SETUP:
        return None, f"The sandbox could not start {spec.subject}."
    if code != 0:
        return None, f"{subject} exited with code {code}."
    return None, ""


def _read_summary(path: Path) -> dict:
    try:
        if path.stat().st_size > RESULT_MAX_BYTES:
            return {"warning": "the run's summary was too large to keep"}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {"value": data}


def _noop(*args) -> None:
    return None


class _Child:
    """The started child process: its pipe, and its wait status once reaped."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.pgid = proc.pid  # start_new_session: the child leads its own group
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.wait_status: int | None = None
        self.usage = None

    def exited(self) -> bool:
        if self.wait_status is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.wait_status, self.usage = status, usage
        return self.wait_status is not None

    def reap(self) -> None:
        if self.wait_status is None:
            _, self.wait_status, self.usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(self.wait_status)

    def read_available(self, splitter: _LineSplitter) -> bool:
        """Read what the pipe holds now (bounded); True at end of file."""
        for _ in range(READS_PER_TURN):
            try:
                chunk = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return False
            except OSError:
                return True
            if not chunk:
                return True
            splitter.feed(chunk)
        return False


def _follow(child: _Child, splitter: _LineSplitter, deadline: float, cancel_requested) -> str:
    """Forward output until the child exits ("exited"), or "cancelled" / "timeout"."""
    eof = False
    while True:
        if cancel_requested():
            return CANCELLED
        now = time.monotonic()
        if now >= deadline:
            return "timeout"
        if not eof:
            timeout_ms = max(1, min(POLL_MS, int((deadline - now) * 1000)))
            if child.poller.poll(timeout_ms):
                eof = child.read_available(splitter)
                continue
        if child.exited():
            if not eof:
                # It exited but something it started still holds the pipe: take what is
                # already written, the rest dies with the group.
                child.read_available(splitter)
            return "exited"
        if eof:
            time.sleep(0.005)  # stdout closed, process still running


def _end(child: _Child, splitter: _LineSplitter, token: str) -> None:
    """Kill the group, reap the child, keep the lines written before the kill, sweep."""
    kill_process_group(child.pgid)
    child.reap()
    child.read_available(splitter)
    child.proc.stdout.close()
    sweep_run_processes(token)


def run_sandboxed(
    spec: SandboxSpec,
    *,
    on_lines: Callable[[list[str]], None],
    on_progress: Callable[[float, str], None] = _noop,
    cancel_requested: Callable[[], bool] = lambda: False,
    on_started: Callable[[int], None] = _noop,
    on_ended: Callable[[int], None] = _noop,
) -> Outcome:
    """Run `spec` to its end (or its limit, or a cancel) and say how it ended.

    `on_started(pgid)` is called as soon as the child exists (register it for cancel-kill);
    `on_ended(pgid)` once it is gone. Exceptions from the callbacks (e.g. JobCancelled from a
    progress update) propagate after the process group has been killed and reaped.
    """
    spec.workdir.mkdir(parents=True, exist_ok=True)
    spec_path = _write_spec(spec)
    token = uuid.uuid4().hex
    splitter = _LineSplitter(on_lines, on_progress, spec.secrets)
    started = time.monotonic()
    child = _Child(
        subprocess.Popen(
            child_command(spec_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=spec.workdir,
            env=build_env(spec, token),
            start_new_session=True,  # pid == pgid: one kill reaches everything it starts
            close_fds=True,
            bufsize=0,
        )
    )
    try:
        on_started(child.pgid)
        ending = _follow(child, splitter, started + spec.timeout, cancel_requested)
    finally:
        splitter.progress_enabled = False
        _end(child, splitter, token)
        on_ended(child.pgid)
    splitter.finish()
    return _outcome(spec, child, splitter, ending, started, cancel_requested())


def _outcome(spec, child: _Child, splitter, ending: str, started: float, cancelled: bool):
    usage = child.usage
    cpu = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0
    outcome = Outcome(
        status=FAILED,
        tail=list(splitter.tail),
        duration=time.monotonic() - started,
        cpu_seconds=cpu,
        lines=splitter.count,
    )
    # The job's watchdog may have killed the group first (it sets the flag before killing).
    if ending == CANCELLED or cancelled:
        outcome.status, outcome.message = CANCELLED, "Cancelled by request."
        return outcome
    if ending == "timeout":
        outcome.limit, outcome.message = "timeout", describe_limit("timeout", spec)
        return outcome
    status = child.wait_status
    outcome.limit, outcome.message = _classify(status, cpu, spec)
    if os.WIFSIGNALED(status):
        outcome.signal = os.WTERMSIG(status)
    else:
        outcome.exit_code = os.WEXITSTATUS(status)
    if outcome.exit_code == 0:
        outcome.status = COMPLETED
        outcome.summary = _read_summary(spec.result_file)
    return outcome


def run_in_job(
    ctx,
    spec: SandboxSpec,
    *,
    on_progress: Callable[[float, str], None] | None = None,
) -> Outcome:
    """Run `spec` as part of the job `ctx` (a core JobContext) runs.

    Output lines go to the job's log; PROGRESS lines to its progress (the message becomes the
    phase) unless `on_progress` maps them otherwise; the child's process group is registered
    with the job, so a cancel kills it at once, and the read loop stops on the cancel flag
    too. A cancelled run returns status `cancelled`: the caller raises JobCancelled.
    """

    def job_progress(percent: float, message: str) -> None:
        ctx.progress(percent, phase=message or None)

    # Tagged with the job, so that a worker lost mid-run leaves nothing behind for long
    # (job_recovery sweeps by this tag).
    spec = dataclasses.replace(spec, env={**spec.env, JOB_ID_VAR: str(ctx.job.pk)})
    return run_sandboxed(
        spec,
        on_lines=ctx.log_many,
        on_progress=on_progress or job_progress,
        cancel_requested=ctx.cancel_requested,
        on_started=ctx.register_child_process,
        on_ended=ctx.unregister_child_process,
    )
