"""What a running job's handler gets: `JobContext` (log, progress, cancel, checkpoints)."""

from __future__ import annotations

import contextlib

from core.exceptions import JobCancelled, JobStopRequested
from core.models import Job, JobStatus

from .job_stream import JobStream
from .job_watchdog import STOP, CancelWatchdog


class JobContext:
    """The handler's view of its job: params, log/progress, cancel checks, checkpoints."""

    def __init__(self, job: Job, stream: JobStream, watchdog: CancelWatchdog):
        self.job = job
        self.params = job.params
        #: Which attempt this is (1 for the first run; more after a lost worker).
        self.attempt = job.attempts
        self._stream = stream
        self._watchdog = watchdog
        self._progress = job.progress
        self._phase = job.phase
        self._counters = dict(job.counters)
        self._checkpoint = dict(job.checkpoint)

    def log(self, line: str) -> int:
        """Store and publish one output line; returns its sequence number."""
        return self._stream.line(line)

    def log_many(self, lines) -> None:
        self._stream.lines(lines)

    def progress(self, percent: float | None = None, *, phase: str | None = None, **counters):
        """Record progress (0-100), an optional phase name and counters (merged)."""
        if percent is not None:
            self._progress = max(0, min(100, int(percent)))
        if phase is not None:
            self._phase = phase[:64]
        self._counters.update(counters)
        self._stream.progress(self._progress, self._phase, counters)
        self.check_cancelled()

    @property
    def counters(self) -> dict:
        return dict(self._counters)

    @property
    def phase(self) -> str:
        return self._phase

    def cancel_requested(self) -> bool:
        """True once the job must stop (a cancel, its time limit, its worker shutting down)."""
        return self._watchdog.cancel_requested.is_set()

    def check_cancelled(self) -> None:
        """A safe point: raise JobCancelled if the job must stop (cheap: no query).

        Call it where stopping leaves nothing half-done (between batches). When the worker
        is shutting down it raises JobStopRequested (a JobCancelled), and the engine
        re-queues the job instead of cancelling it.
        """
        if self._watchdog.cancel_requested.is_set():
            if self._watchdog.reason == STOP:
                raise JobStopRequested()
            raise JobCancelled()

    def uninterruptible(self):
        """Context manager for a short section that must run to its end even when the job
        is cancelled meanwhile; the cancel is enforced only after it (see job_watchdog)."""
        return self._watchdog.shield()

    @contextlib.contextmanager
    def unsafe_to_rerun(self, what: str):
        """Mark an outside effect in flight (sending an email, placing an order, a paid
        call): if the worker dies inside, the job is failed for an operator to reconcile,
        never re-run blindly, whatever its kind declares. Stored before the block runs."""
        previous = self._watchdog.unsafe_section
        self._watchdog.unsafe_section = what[:200]
        self._stream.set_fields(unsafe_section=self._watchdog.unsafe_section)
        try:
            yield
        finally:
            self._watchdog.unsafe_section = previous
            self._stream.set_fields(unsafe_section=previous)

    @property
    def checkpoint(self) -> dict:
        """What an earlier attempt saved with `save_checkpoint` ({} on a first run)."""
        return dict(self._checkpoint)

    def save_checkpoint(self, data: dict) -> None:
        """Save where a re-run may resume from.

        Written on the job's own database connection, so inside a transaction it commits
        (or rolls back) together with the work it describes: a re-run never repeats work
        that was committed, nor skips work that was not.
        """
        saved = Job.objects.filter(
            pk=self.job.pk, attempts=self.attempt, status=JobStatus.RUNNING
        ).update(checkpoint=data)
        if not saved:
            # Another attempt owns the job now (this one was declared lost): stop here.
            raise JobCancelled()
        self._checkpoint = dict(data)

    def register_child_process(self, pid: int) -> None:
        """A child process group (pid == pgid) to kill at once when the job is cancelled."""
        self._watchdog.children.add(pid)

    def unregister_child_process(self, pid: int) -> None:
        self._watchdog.children.discard(pid)
