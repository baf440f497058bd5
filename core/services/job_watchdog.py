"""Makes cancellation of a running job real, whatever the job is doing.

A thread beside the job polls the job's `cancel_requested` flag and watches its wall-clock
limit (the kind's `timeout_seconds`, else JOB_TIMEOUT_SECONDS; a timed-out job is stopped
exactly like a cancelled one but ends `failed`). Once either happens:
1. the flag becomes visible to `ctx.check_cancelled()` (no query on the job's hot path) and
   every registered child process group is killed at once;
2. after JOB_CANCEL_GRACE_SECONDS, if the handler still runs, JobCancelled is raised inside
   the job's thread (interrupts pure-Python loops that never check the flag);
3. one second later, if it still runs (blocked in C code), the job is recorded as cancelled
   and the Celery task's process is terminated (`revoke(terminate=True)`).

Steps 2 and 3 wait while the job is inside a `shield()` section: a short piece of work that
must not be cut off half-way (rebuilding indexes a bulk load dropped, say).
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
# The heartbeat proves the worker is alive even when a job logs nothing for a while.
HEARTBEAT_SECONDS = 30


def kill_process_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group, ignoring one that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class CancelWatchdog:
    def __init__(
        self, job_id, task_id: str, job_thread_ident: int, *, timeout_seconds: float | None = None
    ):
        self.job_id = job_id
        self.task_id = task_id
        self.timeout_seconds = timeout_seconds
        self.cancel_requested = threading.Event()
        #: Set when the stop was caused by the wall-clock limit rather than a cancel request.
        self.timed_out = False
        self.children: set[int] = set()
        self._job_thread = job_thread_ident
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._shields = 0
        self._thread = threading.Thread(
            target=self._run, name=f"job-watchdog-{job_id}", daemon=True
        )

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

    def _run(self) -> None:
        try:
            self._watch()
        except Exception:
            logger.exception("job %s: cancel watchdog failed", self.job_id)
        finally:
            connection.close()

    def timeout_message(self) -> str:
        return (
            f"Timed out: the job ran longer than its limit of {self.timeout_seconds:g} s "
            "(JOB_TIMEOUT_SECONDS, or its kind's own limit) and was stopped."
        )

    def _watch(self) -> None:
        last_beat = time.monotonic()
        deadline = (
            last_beat + self.timeout_seconds if self.timeout_seconds is not None else float("inf")
        )
        while not self._stopped.wait(POLL_SECONDS):
            if time.monotonic() >= deadline:
                self.timed_out = True
                logger.warning("job %s: %s", self.job_id, self.timeout_message())
                break
            if Job.objects.filter(pk=self.job_id, cancel_requested=True).exists():
                break
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                Job.objects.filter(pk=self.job_id).update(heartbeat_at=timezone.now())
                last_beat = time.monotonic()
        else:
            return
        self.cancel_requested.set()
        for pgid in list(self.children):
            kill_process_group(pgid)
        if self._stopped.wait(settings.JOB_CANCEL_GRACE_SECONDS):
            return
        with self._unshielded() as running:
            if not running:
                return
            logger.warning("job %s ignored cancellation; interrupting it", self.job_id)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._job_thread), ctypes.py_object(JobCancelled)
            )
        if self._stopped.wait(1.0):
            return
        with self._unshielded() as running:
            if not running:
                return
            if self.timed_out:
                end_running_job(self.job_id, JobStatus.FAILED, self.timeout_message())
            else:
                end_running_job(
                    self.job_id,
                    JobStatus.CANCELLED,
                    "Cancelled: the job did not stop by itself and was terminated.",
                )
            revoke_task(self.task_id, terminate=True)

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
