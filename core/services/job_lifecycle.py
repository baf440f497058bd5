"""The edges of a job's life that several parts of the engine share: sending a job to the
broker, stopping its Celery task, and announcing that it ended.

`jobs.py` (start, cancel, execute), `job_watchdog.py` (forced cancel) and `housekeeping.py`
(orphans) all import this module and nothing imports them back, so the engine has no import
circle. The broker is reached through Celery's current app and task *names*: the engine never
imports `core.tasks` or the project's `config`.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from core.models import Job, JobStatus

from . import live

logger = logging.getLogger(__name__)

#: The Celery task that runs one job (defined in core/tasks.py, sent here by name).
RUN_JOB_TASK = "core.tasks.run_job"

#: Sent after a job reaches a terminal status; `job` is the refreshed Job instance.
job_finished = Signal()


def enqueue_after_commit(job: Job) -> None:
    """Send the job to its queue once the current transaction commits (never before its row
    is visible to the worker)."""
    # `_enqueue` is looked up when the commit happens: tests replace it to see what is sent.
    transaction.on_commit(lambda: _enqueue(job))


def _enqueue(job: Job) -> None:
    """Queue the job's Celery task (called after the job's row is committed)."""
    # Stamped before sending: if the send fails, the re-send sweep tries again later.
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
    current_app.send_task(
        RUN_JOB_TASK, args=[str(job.id)], queue=job.queue, task_id=job.celery_task_id
    )


def resend_pending_job(job: Job) -> None:
    """Send a pending job's task again, with the same task id: if the first message still
    arrives, whichever comes second finds the job claimed and does nothing."""
    _enqueue(job)


def revoke_task(task_id: str, *, terminate: bool = False) -> None:
    """Drop a queued task; with `terminate`, also SIGKILL the process running it."""
    if terminate:
        current_app.control.revoke(task_id, terminate=True, signal="SIGKILL")
    else:
        current_app.control.revoke(task_id)


def final_event(job: Job) -> dict:
    """The live-stream event that tells subscribers how the job ended."""
    if job.status == JobStatus.COMPLETED:
        return {
            "type": live.COMPLETED,
            "job_id": str(job.id),
            "status": job.status,
            "result": job.result,
        }
    return {
        "type": live.FAILED,
        "job_id": str(job.id),
        "status": job.status,
        "error": job.error.split("\n\n", 1)[0],
    }


def announce_job_finished(job: Job) -> None:
    """Publish the terminal event and tell listeners (webhooks, ...) the job is done."""
    live.publish_job_event(job.id, final_event(job))
    try:
        job_finished.send(sender=Job, job=job)
    except Exception:
        logger.exception("a job_finished receiver failed for job %s", job.id)


def end_running_job(job_id, status: str, reason: str, *, attempt: int | None = None) -> bool:
    """Record the end of a running job without its cooperation (a forced cancel, a lost
    worker); returns False when it was no longer running (or no longer that attempt)."""
    running = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING)
    if attempt is not None:
        running = running.filter(attempts=attempt)
    updated = running.update(status=status, finished_at=timezone.now(), error=reason)
    if updated:
        announce_job_finished(Job.objects.get(pk=job_id))
    return bool(updated)
