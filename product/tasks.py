"""Thin Celery tasks of the catalog."""

from celery import shared_task

from product.services.catalog_indexes import start_restore_job_if_needed


@shared_task(name="product.tasks.restore_suspended_indexes", ignore_result=True)
def restore_suspended_indexes() -> str | None:
    """Start the index restore job when a bulk load left indexes to build (beat)."""
    job = start_restore_job_if_needed()
    return str(job.pk) if job else None
