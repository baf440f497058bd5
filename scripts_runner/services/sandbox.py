"""Runs one script in a sandboxed child process and streams its output, line by line.

The child (`python -m scripts_runner.sandbox.child SPEC`) runs in its own session/process
group, in the run's folder, with an environment reduced to an allowlist plus the credentials
the script declares; it sets its own rlimits before importing the script. This module:

- reads the child's merged stdout/stderr as it comes (a 64 KiB read takes whatever is
  there, so lines are forwarded in batches under load without per-line latency when idle),
  hands complete lines to `on_lines` in order and `PROGRESS <0-100> [message]` lines to
  `on_progress`;
- enforces the wall-clock timeout and cancellation by killing the whole process group;
- after the run, kills whatever the script left behind: its process group, and processes
  that left the group (setsid) but carry the run's token in their environment;
- tells which limit, if any, ended the run, from the exit status and resource usage.

Django-free apart from what callers pass in, so it can be tested on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from scripts_runner.sandbox import child as child_protocol

from .registry import Limits, Script

REPO_ROOT = Path(__file__).resolve().parents[2]
READ_SIZE = 1 << 16
# Reads per loop turn before cancellation and the deadline are checked again.
READS_PER_TURN = 16
POLL_MS = 50
# A line without a newline is cut here (the job log caps lines at 10 000 characters anyway).
MAX_LINE_BYTES = 64 * 1024
TAIL_LINES = 20
RESULT_MAX_BYTES = 1024 * 1024
# Marks every process of a run (inherited through the environment), for the final sweep.
RUN_TOKEN_VAR = "SCRIPTS_RUN_TOKEN"  # noqa: S105 - a variable name, not a secret
# Environment variables copied from the worker when set: none of them carries a secret.
BASE_ENV_ALLOWLIST = ("PATH", "LANG", "LC_ALL", "TZ")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

PROGRESS_RE = re.compile(r"^PROGRESS\s+(\d{1,3}(?:\.\d+)?)(?:\s+(.*?))?\s*$")

COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass
class ChildSpec:
    """Everything one child run needs."""

    script: type[Script]
    params: dict
    job_dir: Path
    data_dir: Path
    job_id: str = ""
    credentials_env: dict[str, str] = field(default_factory=dict)
    extra_env_allowlist: tuple[str, ...] = ()
    #: Name of the spec/result files under `<job_dir>/.sandbox/` (several per workflow).
    label: str = ""
    #: A shorter wall-clock budget (a workflow's remaining time).
    timeout_override: float | None = None

    @property
    def limits(self) -> Limits:
        return self.script.limits

    @property
    def timeout(self) -> float:
        own = float(self.script.timeout)
        return own if self.timeout_override is None else min(own, self.timeout_override)


@dataclass
class Outcome:
    """How a child run ended."""

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


def build_env(spec: ChildSpec, token: str) -> dict[str, str]:
    """The child's whole environment: an allowlist, never the worker's secrets."""
    env = {}
    for name in (*BASE_ENV_ALLOWLIST, *spec.extra_env_allowlist):
        if name in os.environ and not name.startswith("SCRIPT_CREDENTIAL_"):
            env[name] = os.environ[name]
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("LANG", "C.UTF-8")
    env.setdefault("TZ", "UTC")
    env.update(
        {
            "HOME": str(spec.job_dir),
            "TMPDIR": str(spec.job_dir / "tmp"),
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PLATFORM_DATA_DIR": str(spec.data_dir),
            RUN_TOKEN_VAR: token,
        }
    )
    env.update(spec.credentials_env)
    return env


def _write_spec(spec: ChildSpec) -> tuple[Path, Path]:
    folder = spec.job_dir / ".sandbox"
    folder.mkdir(parents=True, exist_ok=True)
    (spec.job_dir / "tmp").mkdir(exist_ok=True)
    label = spec.label or spec.script.name
    spec_path = folder / f"{label}.spec.json"
    result_path = folder / f"{label}.result.json"
    with contextlib.suppress(FileNotFoundError):
        result_path.unlink()
    spec_path.write_text(
        json.dumps(
            {
                "script": spec.script.name,
                "module": spec.script.__module__,
                "qualname": spec.script.__qualname__,
                "params": spec.params,
                "limits": spec.limits.as_dict(),
                "job_dir": str(spec.job_dir),
                "data_dir": str(spec.data_dir),
                "job_id": spec.job_id,
                "result_file": str(result_path),
                "parent_pid": os.getpid(),
            },
            default=str,
        ),
        encoding="utf-8",
    )
    return spec_path, result_path


def child_command(spec_path: Path) -> list[str]:
    # -P: the run's folder (which may hold downloaded files) never shadows a module;
    # -s: no user site-packages from HOME; -B: no .pyc written into the repository.
    return [sys.executable, "-P", "-s", "-B", "-m", "scripts_runner.sandbox.child", str(spec_path)]


class _LineSplitter:
    """Turns the child's byte stream into lines and PROGRESS events, in order."""

    def __init__(self, on_lines, on_progress, secrets):
        self._on_lines = on_lines
        self._on_progress = on_progress
        self._secrets = [s for s in secrets if len(s) >= 4]
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
        if "PROGRESS" not in text:  # the common case: one call for the whole chunk
            self._lines(lines)
            return
        batch = []
        for line in lines:
            match = PROGRESS_RE.match(line) if line.startswith("PROGRESS") else None
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


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group, ignoring one that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def sweep_run_processes(token: str) -> int:
    """Kill processes that escaped the process group (setsid) but carry the run's token."""
    killed = 0
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(RUN_TOKEN_VAR) == token:
                proc.kill()
                killed += 1
        except (psutil.Error, OSError):
            continue
    return killed


def describe_limit(limit: str, spec: ChildSpec) -> str:
    limits = spec.limits
    return {
        "timeout": f"Wall-clock timeout: the script ran longer than {spec.timeout:g} s and was "
        "killed.",
        "cpu": f"CPU time limit exceeded: the script used its {limits.cpu_seconds} s of CPU "
        "time and was killed.",
        "memory": f"Memory limit exceeded: the script needed more than its "
        f"{limits.memory_mb} MB of address space.",
        "file_size": f"File size limit exceeded: the script tried to write a file larger than "
        f"{limits.file_size_mb} MB.",
        "open_files": f"Open files limit exceeded: the script tried to have more than "
        f"{limits.open_files} files open.",
    }[limit]


def _classify(status: int, cpu_seconds: float, spec: ChildSpec) -> tuple[str | None, str, dict]:
    """(limit, message, details) for a finished child's wait status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        details = {"signal": sig}
        if sig == signal.SIGXCPU or (
            sig == signal.SIGKILL and cpu_seconds >= spec.limits.cpu_seconds - 0.05
        ):
            return "cpu", describe_limit("cpu", spec), details
        if sig == signal.SIGXFSZ:
            return "file_size", describe_limit("file_size", spec), details
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return None, f"The script was killed by signal {name}.", details
    code = os.WEXITSTATUS(status)
    details = {"exit_code": code}
    if code == child_protocol.EXIT_MEMORY:
        return "memory", describe_limit("memory", spec), details
    if code == child_protocol.EXIT_OPEN_FILES:
        return "open_files", describe_limit("open_files", spec), details
    if code == child_protocol.EXIT_SETUP:
        return None, "The sandbox could not start the script.", details
    if code != 0:
        return None, f"The script exited with code {code}.", details
    return None, "", details


def _read_summary(path: Path) -> dict:
    try:
        if path.stat().st_size > RESULT_MAX_BYTES:
            return {"warning": "the script's summary was too large to keep"}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {"value": data}


def run_child(
    spec: ChildSpec,
    *,
    on_lines: Callable[[list[str]], None],
    on_progress: Callable[[float, str], None] = lambda percent, message: None,
    cancel_requested: Callable[[], bool] = lambda: False,
    on_started: Callable[[int], None] = lambda pgid: None,
    on_ended: Callable[[int], None] = lambda pgid: None,
) -> Outcome:
    """Run `spec` to its end (or its limit, or a cancel) and say how it ended.

    `on_started(pgid)` is called as soon as the child exists (register it for cancel-kill);
    `on_ended(pgid)` once it is gone. Exceptions from the callbacks (e.g. JobCancelled from a
    progress update) propagate after the process group has been killed and reaped.
    """
    spec.job_dir.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = _write_spec(spec)
    token = uuid.uuid4().hex
    splitter = _LineSplitter(on_lines, on_progress, spec.credentials_env.values())
    started = time.monotonic()
    deadline = started + spec.timeout
    proc = subprocess.Popen(
        child_command(spec_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=spec.job_dir,
        env=build_env(spec, token),
        start_new_session=True,  # pid == pgid: one kill reaches everything it starts
        close_fds=True,
        bufsize=0,
    )
    pgid = proc.pid
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    wait_status = None
    usage = None
    cancelled = timed_out = False
    try:
        on_started(pgid)
        eof = False
        while True:
            if cancel_requested():
                cancelled = True
                break
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if not eof:
                timeout_ms = max(1, min(POLL_MS, int((deadline - now) * 1000)))
                if poller.poll(timeout_ms):
                    eof = _read_available(fd, splitter)
                    continue
            if wait_status is None:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    wait_status, usage = status, rusage
            if wait_status is not None:
                if not eof:
                    # The script exited but something it started still holds the pipe:
                    # take what is already written, the rest dies with the group below.
                    _read_available(fd, splitter)
                break
            if eof:
                time.sleep(0.005)  # stdout closed, process still running
    finally:
        splitter.progress_enabled = False
        kill_group(pgid)
        if wait_status is None:
            _, wait_status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        _read_available(fd, splitter)  # lines written before the kill
        proc.stdout.close()
        sweep_run_processes(token)
        on_ended(pgid)
    splitter.finish()
    cpu = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0
    outcome = Outcome(
        status=FAILED,
        tail=list(splitter.tail),
        duration=time.monotonic() - started,
        cpu_seconds=cpu,
        lines=splitter.count,
    )
    # The job's watchdog may have killed the group first (it sets the flag before killing).
    if cancelled or cancel_requested():
        outcome.status, outcome.message = CANCELLED, "Cancelled by request."
        return outcome
    if timed_out:
        outcome.limit, outcome.message = "timeout", describe_limit("timeout", spec)
        return outcome
    limit, message, details = _classify(wait_status, cpu, spec)
    outcome.limit, outcome.message = limit, message
    outcome.exit_code = details.get("exit_code")
    outcome.signal = details.get("signal")
    if outcome.exit_code == 0:
        outcome.status = COMPLETED
        outcome.summary = _read_summary(result_path)
    return outcome


def _read_available(fd: int, splitter: _LineSplitter) -> bool:
    """Read what the pipe holds now (bounded); True at end of file."""
    for _ in range(READS_PER_TURN):
        try:
            chunk = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not chunk:
            return True
        splitter.feed(chunk)
    return False
