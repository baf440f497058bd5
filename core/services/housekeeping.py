"""Periodic clean-up of the Job engine's data."""

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from core.models import Job
from core.models.job import TERMINAL_STATUSES

from .job_recovery import find_lost_jobs, resend_stale_pending_jobs

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


def run_housekeeping() -> dict:
    # Workers find lost jobs within seconds themselves (job_recovery.JobMonitor); this is the
    # last resort when no worker runs at all.
    summary = {
        "deleted_jobs": delete_expired_jobs(),
        "lost_jobs": find_lost_jobs(),
        "resent_jobs": resend_stale_pending_jobs(),
    }
    logger.info("housekeeping: %s", summary)
    return summary
