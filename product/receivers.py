"""Signal receivers of the catalog (connected in ProductConfig.ready)."""

import logging

from core.models import JobStatus
from core.services.jobs import job_finished

from .models import SuspendedIndex
from .services.catalog_indexes import start_restore_job_if_needed

logger = logging.getLogger(__name__)


def restore_indexes_after_a_failed_job(sender, job, **kwargs):
    """A job that ended without completing (its worker died mid-load and it is not re-run)
    may have left indexes suspended: their restore starts now, from the failure itself,
    not minutes later from beat. A completed load restores its own."""
    if job.status == JobStatus.COMPLETED or not SuspendedIndex.objects.exists():
        return
    restore = start_restore_job_if_needed()
    if restore is not None:
        logger.info(
            "job %s ended %s: restoring the suspended indexes (job %s)",
            job.pk,
            job.status,
            restore.pk,
        )


def connect_receivers() -> None:
    job_finished.connect(
        restore_indexes_after_a_failed_job, dispatch_uid="product.restore_after_failure"
    )
