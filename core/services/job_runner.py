"""Running one attempt of a job in this process: claim it, run its handler, record the end.

Called by the `core.tasks.run_job` Celery task (tests call `execute_job` directly). The
attempt number fences the row: the heartbeat, checkpoints and the final update only write
while the job still belongs to this attempt, so an attempt declared lost can never overwrite
the one that replaced it.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from core.exceptions import JobCancelled, JobStopRequested
from core.models import Job, JobStatus

from .job_context import JobContext
from .job_kinds import JobKind, get_job_kind
from .job_lifecycle import announce_job_finished
from .job_recovery import handle_interrupted_job
from .job_stream import JobStream
from .job_watchdog import SUPERSEDED, CancelWatchdog

logger = logging.getLogger(__name__)


@dataclass
class _Outcome:
    status: str = JobStatus.COMPLETED
    result: dict = field(default_factory=dict)
    error: str = ""
    #: Stopped at a safe point for a worker shutdown: re-queue or fail, not finish.
    stopped: bool = False
    #: Another attempt owns the job now: write nothing more.
    superseded: bool = False


def execute_job(job_id, *, worker: str = "") -> Job | None:
    """Run a pending job in this process; returns it as it ended (None if not claimed).

    `worker` names the Celery worker (its hostname): a job records "hostname pid N" so that
    the worker can ask its own jobs to stop when it shuts down.
    """
    job = _claim(job_id, worker)
    if job is None:
        logger.info("job %s is not pending any more; not running it", job_id)
        return None
    kind = get_job_kind(job.kind)
    stream = JobStream(job.id, start_seq=job.log_line_count)
    watchdog = CancelWatchdog(
        job.id,
        job.celery_task_id,
        threading.current_thread().ident,
        attempt=job.attempts,
        timeout_seconds=kind.effective_timeout(settings.JOB_TIMEOUT_SECONDS),
    )
    ctx = JobContext(job, stream, watchdog)
    # Through the stream: ordered with the job's first lines, on the stream's own connection.
    stream.progress(job.progress if job.attempts > 1 else 0, "started", {})
    watchdog.start()
    outcome = _run_handler(kind, ctx, watchdog)
    watchdog.stop()  # again: an interrupt may have landed inside the first stop()
    stream.drain()
    stream.close()
    if outcome.superseded:
        return None
    if outcome.stopped:
        handle_interrupted_job(
            job.id,
            attempt=job.attempts,
            reason=f"{job.worker or 'its worker'} was shutting down",
            stopped_cleanly=True,
        )
        return Job.objects.get(pk=job.id)
    _record_end(job, outcome, ctx, stream)
    job.refresh_from_db()
    announce_job_finished(job)
    return job


def _claim(job_id, worker: str) -> Job | None:
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        error="",
        worker=f"{worker or 'in-process'} pid {os.getpid()}",
        stop_requested=False,
        unsafe_section="",
    )
    return Job.objects.get(pk=job_id) if claimed else None


def _run_handler(kind: JobKind, ctx: JobContext, watchdog: CancelWatchdog) -> _Outcome:
    try:
        try:
            return _Outcome(result=kind.handler(ctx) or {})
        finally:
            watchdog.stop()
    except JobStopRequested:
        ctx.log("Stopping at a safe point: the worker is shutting down.")
        return _Outcome(stopped=True)
    except JobCancelled:
        if watchdog.reason == SUPERSEDED:
            return _Outcome(superseded=True)
        if watchdog.timed_out:
            ctx.log(watchdog.timeout_message())
            return _Outcome(status=JobStatus.FAILED, error=watchdog.timeout_message())
        ctx.log("Job cancelled.")
        return _Outcome(status=JobStatus.CANCELLED, error="Cancelled by request.")
    except Exception as exc:
        logger.exception("job %s (%s) failed", ctx.job.id, ctx.job.kind)
        ctx.log_many(["Job failed:", *traceback.format_exc().rstrip().splitlines()])
        return _Outcome(
            status=JobStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}",
        )


def _record_end(job: Job, outcome: _Outcome, ctx: JobContext, stream: JobStream) -> None:
    update = {
        "status": outcome.status,
        "finished_at": timezone.now(),
        "error": outcome.error,
        "result": outcome.result,
        "counters": ctx.counters,
        "log_line_count": stream.seq,
        "unsafe_section": "",
    }
    if outcome.status == JobStatus.COMPLETED:
        update["progress"] = 100
    # Only this attempt, still running, is finished here: the watchdog may already have
    # recorded a forced cancellation, or the job been handed to another attempt.
    Job.objects.filter(pk=job.id, status=JobStatus.RUNNING, attempts=job.attempts).update(**update)
