"""The Job engine: one model and one lifecycle for every background run.

Domain code declares its kinds in `<app>/jobs.py` (see `job_kinds.py`) and writes handlers:

    def run_import_job(ctx: JobContext) -> dict:         # ctx.params holds the stored params
        ctx.log("reading file")
        ctx.progress(40, phase="writing", processed_rows=400_000)
        ctx.check_cancelled()                             # raises JobCancelled if asked to stop
        return {"imported": 500_000}                       # stored as job.result

    job = start_job(CATALOG_IMPORT, params={...}, owner=request.user)

The job is enqueued only after the surrounding transaction commits. `execute_job` (run by
the `core.tasks.run_job` Celery task) claims the job, runs the handler, and records success,
failure (with traceback) or cancellation; lines and progress are stored and published live.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import JobCancelled, JobStateConflict
from core.models import Job, JobStatus

from .job_kinds import JobKind, get_job_kind
from .job_lifecycle import (
    announce_job_finished,
    end_running_job,
    job_finished,
    revoke_task,
    send_to_broker,
)
from .job_stream import JobStream
from .job_watchdog import CancelWatchdog

logger = logging.getLogger(__name__)


def start_job(
    kind: str | JobKind,
    *,
    params: dict | None = None,
    owner=None,
    title: str = "",
    subject=None,
    retry_of: Job | None = None,
) -> Job:
    """Create a pending job and enqueue it once the current transaction commits.

    `subject` is the object the job works on (a saved model instance, or a
    `(content type, id)` pair), so the job can be found from it (`jobs_about(obj)`, the API's
    subject filter) and scheduled per object.
    """
    job_kind_ = get_job_kind(kind)
    subject_type, subject_id = subject_key(subject) if subject is not None else (None, "")
    job = Job.objects.create(
        kind=job_kind_.name,
        title=title[:255],
        params=params or {},
        owner=owner if owner is not None and owner.is_authenticated else None,
        queue=job_kind_.queue,
        subject_type=subject_type,
        subject_id=subject_id,
        retry_of=retry_of,
        celery_task_id=str(uuid.uuid4()),
    )
    transaction.on_commit(lambda: _enqueue(job))
    return job


def subject_key(obj) -> tuple[ContentType, str]:
    """How a job names its subject: the object's content type and its primary key as text."""
    if isinstance(obj, tuple):
        subject_type, subject_id = obj
        return subject_type, str(subject_id)
    if obj.pk is None:
        raise ValueError("A job's subject must be saved first.")
    return ContentType.objects.get_for_model(obj, for_concrete_model=False), str(obj.pk)


def jobs_about(obj):
    """The jobs whose subject is `obj`, newest first."""
    subject_type, subject_id = subject_key(obj)
    return Job.objects.filter(subject_type=subject_type, subject_id=subject_id)


def _enqueue(job: Job) -> None:
    send_to_broker(job)


def cancel_job(job_id) -> Job:
    """Request cancellation. A pending job is cancelled at once; a running one stops at its
    next check (its watchdog enforces it after JOB_CANCEL_GRACE_SECONDS).

    Raises JobStateConflict for a job that already finished.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_terminal:
            raise JobStateConflict(f"Job is already {job.status}; it cannot be cancelled.")
        if job.status == JobStatus.PENDING:
            job.status = JobStatus.CANCELLED
            job.finished_at = timezone.now()
            job.error = "Cancelled before it started."
            job.cancel_requested = True
            job.save(update_fields=["status", "finished_at", "error", "cancel_requested"])
            transaction.on_commit(lambda: _after_cancel_pending(job))
        elif not job.cancel_requested:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
    return job


def _after_cancel_pending(job: Job) -> None:
    revoke_task(job.celery_task_id)
    announce_job_finished(job)


def retry_job(job_id, *, owner=None) -> Job:
    """Start a new job with the stored kind and parameters of a finished one."""
    job = Job.objects.get(pk=job_id)
    if not job.is_terminal:
        raise JobStateConflict(f"Job is {job.status}; only a finished job can be retried.")
    return start_job(
        job.kind,
        params=job.params,
        owner=owner if owner is not None else job.owner,
        title=job.title,
        # The same subject, even if its object is gone meanwhile.
        subject=(job.subject_type, job.subject_id) if job.subject_type_id else None,
        retry_of=job,
    )


class JobContext:
    """What a running job's handler gets: its job, params, and the log/progress/cancel API."""

    def __init__(self, job: Job, stream: JobStream, watchdog: CancelWatchdog):
        self.job = job
        self.params = job.params
        self._stream = stream
        self._watchdog = watchdog
        self._progress = job.progress
        self._phase = job.phase
        self._counters = dict(job.counters)

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

    def cancel_requested(self) -> bool:
        return self._watchdog.cancel_requested.is_set()

    def check_cancelled(self) -> None:
        """Raise JobCancelled if cancellation was requested (cheap: no query)."""
        if self._watchdog.cancel_requested.is_set():
            raise JobCancelled()

    def uninterruptible(self):
        """Context manager for a short section that must run to its end even when the job
        is cancelled meanwhile; the cancel is enforced only after it (see job_watchdog)."""
        return self._watchdog.shield()

    def register_child_process(self, pid: int) -> None:
        """A child process group (pid == pgid) to kill at once when the job is cancelled."""
        self._watchdog.children.add(pid)

    def unregister_child_process(self, pid: int) -> None:
        self._watchdog.children.discard(pid)


def execute_job(job_id) -> Job | None:
    """Run a pending job in this process. Called by the Celery task; tests call it directly."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        error="",
    )
    if not claimed:
        logger.info("job %s is not pending any more; not running it", job_id)
        return None
    job = Job.objects.get(pk=job_id)
    kind = get_job_kind(job.kind)
    stream = JobStream(job.id, start_seq=job.log_line_count)
    watchdog = CancelWatchdog(
        job.id,
        job.celery_task_id,
        threading.current_thread().ident,
        timeout_seconds=kind.effective_timeout(settings.JOB_TIMEOUT_SECONDS),
    )
    ctx = JobContext(job, stream, watchdog)
    # Through the stream: ordered with the job's first lines, on the stream's own connection.
    stream.progress(0, "started", {})
    watchdog.start()
    result, error = {}, ""
    try:
        try:
            result = kind.handler(ctx) or {}
            status = JobStatus.COMPLETED
        finally:
            watchdog.stop()
    except JobCancelled:
        if watchdog.timed_out:
            status, error = JobStatus.FAILED, watchdog.timeout_message()
            ctx.log(error)
        else:
            status, error = JobStatus.CANCELLED, "Cancelled by request."
            ctx.log("Job cancelled.")
    except Exception as exc:
        status = JobStatus.FAILED
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        ctx.log_many(["Job failed:", *traceback.format_exc().rstrip().splitlines()])
        logger.exception("job %s (%s) failed", job.id, job.kind)
    watchdog.stop()  # again: an interrupt may have landed inside the first stop()
    stream.drain()
    update = {
        "status": status,
        "finished_at": timezone.now(),
        "error": error,
        "result": result,
        "counters": ctx.counters,
        "log_line_count": stream.seq,
    }
    if status == JobStatus.COMPLETED:
        update["progress"] = 100
    # Only a job still marked running is finished here: the watchdog may have already
    # recorded a forced cancellation.
    Job.objects.filter(pk=job.id, status=JobStatus.RUNNING).update(**update)
    stream.close()
    job.refresh_from_db()
    announce_job_finished(job)
    return job


def force_cancel(job_id, reason: str) -> bool:
    """Mark a running job cancelled without its cooperation (watchdog / housekeeping)."""
    return end_running_job(job_id, JobStatus.CANCELLED, reason)


__all__ = [
    "JobContext",
    "announce_job_finished",
    "cancel_job",
    "execute_job",
    "force_cancel",
    "job_finished",
    "jobs_about",
    "retry_job",
    "start_job",
    "subject_key",
]
