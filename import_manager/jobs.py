"""Job kinds of the import app (auto-discovered by core in web and worker)."""

from core.services.jobs import JobContext, job_kind

from .services.runs import JOB_KIND, run_import_job


@job_kind(JOB_KIND, queue="imports", label="Catalog import")
def import_catalog_job(ctx: JobContext) -> dict:
    """Import one product file (uploaded, or downloaded from a feed URL) into the catalog."""
    return run_import_job(ctx)
