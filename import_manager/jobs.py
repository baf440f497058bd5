"""Job kinds of the import app (auto-discovered by core in web and worker)."""

from core.services.job_kinds import declare_job_kind

CATALOG_IMPORT = declare_job_kind(
    "catalog.import",
    handler="import_manager.services.runs.run_import_job",
    queue="imports",
    label="Catalog import",
    # The original systems' task names (seed 002), so operators find these jobs by them.
    aliases=("import_csv_products", "import_xml_feed"),
    # The merge is an idempotent upsert: a re-run converges on the catalog an uninterrupted
    # import leaves, and rebuilds any indexes the lost attempt left suspended.
    rerun_on_worker_lost=True,
    # GET /api/jobs/{id} of an import shows seed 004's job status fields at the top level.
    detail="import_manager.services.reports.import_job_detail",
)
