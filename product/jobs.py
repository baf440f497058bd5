"""Job kinds of the catalog (auto-discovered by core at start-up)."""

from core.services.job_kinds import declare_job_kind

DELETE_ALL = declare_job_kind(
    "product.delete_all",
    handler="product.services.bulk.run_delete_all_job",
    label="Delete all products",
    rerun_on_worker_lost=True,  # its checkpoint commits with the DELETE
)
BULK_PRICE_UPDATE = declare_job_kind(
    "product.bulk_price_update",
    handler="product.services.bulk.run_bulk_price_job",
    label="Bulk price update",
    rerun_on_worker_lost=True,  # its checkpoint commits with the UPDATE
)
RESTORE_INDEXES = declare_job_kind(
    "product.restore_indexes",
    handler="product.services.catalog_indexes.run_restore_indexes_job",
    label="Build the catalog's indexes",
    rerun_on_worker_lost=True,  # rebuilding what is recorded as missing is idempotent
)
