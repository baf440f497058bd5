"""A thread beside every running job: its heartbeat, and the reasons it must stop.

Every POLL_SECONDS it reads the job's row; every JOB_HEARTBEAT_SECONDS it writes the job's
heartbeat, only while the row still belongs to this attempt (so a job another worker took
over after declaring this one lost is never written by both). It stops the job when:

- a cancel was requested (`cancel_requested`), or the job ran past its wall-clock limit
  (the kind's `timeout_seconds`, else JOB_TIMEOUT_SECONDS; a timed-out job ends `failed`),
  or the row was taken over by a newer attempt. Then:
  1. the reason becomes visible to `ctx.check_cancelled()` (no query on the job's hot path)
     and every registered child process group is killed at once;
  2. after JOB_CANCEL_GRACE_SECONDS, if the handler still runs, JobCancelled is raised inside
     the job's thread (interrupts pure-Python loops that never check);
  3. one second later, if it still runs (blocked in C code), the job is recorded as ended and
     the Celery task's process is terminated (`revoke(terminate=True)`).
  Steps 2 and 3 wait while the job is inside a `shield()` section: a short piece of work that
  must not be cut off half-way (rebuilding indexes a bulk load dropped, say).
- its worker shuts down (`stop_requested` set by the worker's main process, or SIGTERM in
  this process: `shutdown_requested`). The job stops at its next safe point (its next
  `ctx.check_cancelled()`, a batch boundary) and is re-queued; nothing is interrupted
  asynchronously, since that could land mid-write. Child processes are killed at once unless
  an outside effect is in flight. A job that reaches no safe point before the platform kills
  the process is found lost by the other workers (job_recovery).
"""

import contextlib
import ctypes
import logging
import os
import signal
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.exceptions import JobCancelled
from core.models import Job, JobStatus

from .job_lifecycle import end_running_job, revoke_task

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2

#: Set in a worker process that received SIGTERM (see core.worker_signals): every job running
#: in it stops at its next safe point.
shutdown_requested = threading.Event()

CANCEL, TIMEOUT, STOP, SUPERSEDED = "cancel", "timeout", "stop", "superseded"


def kill_process_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group, ignoring one that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class CancelWatchdog:
    def __init__(
        self,
        job_id,
        task_id: str,
        job_thread_ident: int,
        *,
        attempt: int = 1,
        timeout_seconds: float | None = None,
    ):
        self.job_id = job_id
        self.task_id = task_id
        self.attempt = attempt
        self.timeout_seconds = timeout_seconds
        #: Set once the job must stop; `reason` says why (CANCEL, TIMEOUT, STOP, SUPERSEDED).
        self.cancel_requested = threading.Event()
        self.reason: str | None = None
        #: What outside effect is in flight (ctx.unsafe_to_rerun), or "".
        self.unsafe_section = ""
        self.children: set[int] = set()
        self._job_thread = job_thread_ident
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._shields = 0
        self._thread = threading.Thread(
            target=self._run, name=f"job-watchdog-{job_id}", daemon=True
        )

    @property
    def timed_out(self) -> bool:
        return self.reason == TIMEOUT

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Called when the handler returned or raised; idempotent."""
        with self._lock:
            self._stopped.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    @contextlib.contextmanager
    def shield(self):
        """While inside, a cancel is not enforced (it is still visible to the job)."""
        with self._lock:
            self._shields += 1
        try:
            yield
        finally:
            with self._lock:
                self._shields -= 1

    def timeout_message(self) -> str:
        return (
            f"Timed out: the job ran longer than its limit of {self.timeout_seconds:g} s "
            "(JOB_TIMEOUT_SECONDS, or its kind's own limit) and was stopped."
        )

    def _run(self) -> None:
        try:
            reason = self._watch()
            if reason is not None:
                self._enforce(reason)
        except Exception:
            logger.exception("job %s: watchdog failed", self.job_id)
        finally:
            connection.close()

    def _watch(self) -> str | None:
        """Wait until the job ends (None) or must stop (the reason)."""
        last_beat = time.monotonic()
        deadline = last_beat + (self.timeout_seconds or float("inf"))
        while not self._stopped.wait(POLL_SECONDS):
            if time.monotonic() >= deadline:
                logger.warning("job %s: %s", self.job_id, self.timeout_message())
                return TIMEOUT
            row = (
                Job.objects.filter(pk=self.job_id)
                .values_list("cancel_requested", "stop_requested", "attempts", "status")
                .first()
            )
            if row is None or row[2] != self.attempt or row[3] != JobStatus.RUNNING:
                logger.warning("job %s: attempt %s was taken over", self.job_id, self.attempt)
                return SUPERSEDED
            if row[0]:
                return CANCEL
            if row[1] or shutdown_requested.is_set():
                return STOP
            if time.monotonic() - last_beat >= settings.JOB_HEARTBEAT_SECONDS:
                if not self._beat():
                    return SUPERSEDED
                last_beat = time.monotonic()
        return None

    def _beat(self) -> bool:
        """Write the heartbeat if the row is still this attempt's."""
        return bool(
            Job.objects.filter(
                pk=self.job_id, attempts=self.attempt, status=JobStatus.RUNNING
            ).update(heartbeat_at=timezone.now())
        )

    def _enforce(self, reason: str) -> None:
        self.reason = reason
        self.cancel_requested.set()
        if reason == STOP:
            if not self.unsafe_section:
                self._kill_children()
            # Keep the heartbeat going while the job heads for its next safe point.
            while not self._stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                if not self._beat():
                    return
            return
        self._kill_children()
        if self._stopped.wait(settings.JOB_CANCEL_GRACE_SECONDS):
            return
        with self._unshielded() as running:
            if not running:
                return
            logger.warning("job %s ignored the stop (%s); interrupting it", self.job_id, reason)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._job_thread), ctypes.py_object(JobCancelled)
            )
        if self._stopped.wait(1.0):
            return
        with self._unshielded() as running:
            if not running:
                return
            if reason == TIMEOUT:
                end_running_job(
                    self.job_id, JobStatus.FAILED, self.timeout_message(), attempt=self.attempt
                )
            elif reason == CANCEL:
                end_running_job(
                    self.job_id,
                    JobStatus.CANCELLED,
                    "Cancelled: the job did not stop by itself and was terminated.",
                    attempt=self.attempt,
                )
            revoke_task(self.task_id, terminate=True)

    def _kill_children(self) -> None:
        for pgid in list(self.children):
            kill_process_group(pgid)

    @contextlib.contextmanager
    def _unshielded(self):
        """Wait until the job is outside every shield() section, then hold the lock (so it
        cannot enter one) for the block; yields False when the job ended meanwhile."""
        while True:
            with self._lock:
                if self._stopped.is_set():
                    yield False
                    return
                if not self._shields:
                    yield True
                    return
            if self._stopped.wait(POLL_SECONDS):
                yield False
                return
