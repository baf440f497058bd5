"""Periodic clean-up of the Job engine's data."""

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from core.models import Job, JobStatus
from core.models.job import TERMINAL_STATUSES

from .job_lifecycle import announce_job_finished

logger = logging.getLogger(__name__)


def delete_expired_jobs(now=None) -> int:
    """Delete finished jobs older than JOB_RETENTION_DAYS, with their stored and file logs."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.JOB_RETENTION_DAYS)
    expired = Job.objects.filter(status__in=TERMINAL_STATUSES, finished_at__lt=cutoff)
    ids = list(expired.values_list("id", flat=True))
    for job_id in ids:
        Path(settings.JOB_LOG_DIR, f"{job_id}.log").unlink(missing_ok=True)
    deleted = Job.objects.filter(id__in=ids).delete()[1].get("core.Job", 0)
    return deleted


def fail_orphaned_jobs(now=None) -> int:
    """Mark running jobs whose heartbeat stopped (their worker died) as failed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)
    stale = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff))
    failed = 0
    for job in stale:
        updated = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            finished_at=now,
            error="The worker running this job stopped responding (no heartbeat since "
            f"{job.heartbeat_at.isoformat()}).",
        )
        if updated:
            failed += 1
            job.refresh_from_db()
            announce_job_finished(job)
    return failed


def run_housekeeping() -> dict:
    summary = {"deleted_jobs": delete_expired_jobs(), "orphaned_jobs": fail_orphaned_jobs()}
    logger.info("housekeeping: %s", summary)
    return summary
