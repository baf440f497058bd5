"""Job kinds of the catalog (auto-discovered by core at start-up)."""

from decimal import Decimal

from core.services.jobs import JobContext, job_kind
from product.services.bulk import (
    BULK_PRICE_JOB_KIND,
    DELETE_ALL_JOB_KIND,
    bulk_update_prices,
    count_price_changes,
    delete_all_products,
)
from product.services.catalog_indexes import (
    RESTORE_JOB_KIND,
    bulk_load,
    restore_indexes_when_free,
)


@job_kind(DELETE_ALL_JOB_KIND, queue="default", label="Delete all products")
def delete_all_products_job(ctx: JobContext) -> dict:
    """Delete the whole catalog; one statement, so it is all or nothing."""
    ctx.log("deleting every product")
    ctx.progress(0, phase="deleting")
    deleted = delete_all_products()
    ctx.log(f"deleted {deleted} products")
    ctx.progress(100, phase="done", deleted=deleted)
    return {"deleted": deleted}


@job_kind(BULK_PRICE_JOB_KIND, queue="default", label="Bulk price update")
def bulk_price_update_job(ctx: JobContext) -> dict:
    """One UPDATE over the products matching the stored filters (validated when started)."""
    params = ctx.params
    ending = params.get("ending")
    ctx.log(
        f"changing prices: {params['mode']} {params['value']}"
        f"{f', ending {ending}' if ending else ''}, filters {params['filters']}"
    )
    ctx.progress(0, phase="updating")
    change = {
        "mode": params["mode"],
        "value": Decimal(params["value"]),
        "ending": None if ending is None else Decimal(ending),
        "filters": params["filters"],
    }
    # Every changed row rewrites every index: when most of the catalog changes, building
    # the indexes again afterwards is far cheaper (measured at 500k rows: see README).
    with bulk_load(count_price_changes(**change), log=ctx.log, shield=ctx.uninterruptible):
        updated = bulk_update_prices(**change)
    ctx.log(f"changed {updated} prices")
    ctx.progress(100, phase="done", updated=updated)
    return {"updated": updated}


@job_kind(RESTORE_JOB_KIND, queue="default", label="Build the catalog's indexes")
def restore_indexes_job(ctx: JobContext) -> dict:
    """Build the indexes a bulk load suspended, concurrently (reads and writes go on).

    Not cancellable half-way: an interrupted concurrent build leaves an invalid index.
    """
    ctx.log("waiting for any bulk load to finish")
    ctx.progress(0, phase="waiting")
    with ctx.uninterruptible():
        built = restore_indexes_when_free(log=ctx.log)
    ctx.log(f"built {len(built)} indexes" if built else "no index was left to build")
    ctx.progress(100, phase="done", built=len(built))
    return {"built": built}
