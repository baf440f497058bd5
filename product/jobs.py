"""Job kinds of the catalog (auto-discovered by core at start-up)."""

from core.services.jobs import JobContext, job_kind
from product.services.bulk import DELETE_ALL_JOB_KIND, delete_all_products


@job_kind(DELETE_ALL_JOB_KIND, queue="default", label="Delete all products")
def delete_all_products_job(ctx: JobContext) -> dict:
    """Delete the whole catalog; one statement, so it is all or nothing."""
    ctx.log("deleting every product")
    ctx.progress(0, phase="deleting")
    deleted = delete_all_products()
    ctx.log(f"deleted {deleted} products")
    ctx.progress(100, phase="done", deleted=deleted)
    return {"deleted": deleted}
