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
import uuid

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from core.exceptions import JobStateConflict
from core.models import Job, JobStatus

from .job_context import JobContext
from .job_kinds import JobKind, get_job_kind
from .job_lifecycle import announce_job_finished, enqueue_after_commit, job_finished, revoke_task
from .job_runner import execute_job

logger = logging.getLogger(__name__)


def start_job(
    kind: str | JobKind,
    *,
    params: dict | None = None,
    owner=None,
    title: str = "",
    subject=None,
    queue: str | None = None,
    retry_of: Job | None = None,
) -> Job:
    """Create a pending job and enqueue it once the current transaction commits.

    `subject` is the object the job works on (a saved model instance, or a
    `(content type, id)` pair), so the job can be found from it (`jobs_about(obj)`, the API's
    subject filter) and scheduled per object. `queue` overrides the kind's queue (a
    dedicated worker for large runs, say); a retry keeps it.
    """
    job_kind_ = get_job_kind(kind)
    subject_type, subject_id = subject_key(subject) if subject is not None else (None, "")
    job = Job.objects.create(
        kind=job_kind_.name,
        title=title[:255],
        params=params or {},
        owner=owner if owner is not None and owner.is_authenticated else None,
        queue=queue or job_kind_.queue,
        subject_type=subject_type,
        subject_id=subject_id,
        retry_of=retry_of,
        celery_task_id=str(uuid.uuid4()),
    )
    enqueue_after_commit(job)
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
        queue=job.queue,
        retry_of=job,
    )


__all__ = [
    "JobContext",
    "announce_job_finished",
    "cancel_job",
    "execute_job",
    "job_finished",
    "jobs_about",
    "retry_job",
    "start_job",
    "subject_key",
]
