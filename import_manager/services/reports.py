"""The import-shaped view of a catalog import job (for the API, the admin page and the
generic job detail)."""

from core.models import Job

from ..models import ImportRowError, ImportRun


def import_report(job: Job, *, with_errors: bool = True, run: ImportRun | None = None) -> dict:
    """Filename, status, counters, progress and the kept row errors of an import job."""
    if run is None:
        run = ImportRun.objects.filter(job=job).first()
    counters = job.counters or {}
    result = job.result or {}

    def figure(name: str) -> int:
        return int(result.get(name, counters.get(name, 0)) or 0)

    report = {
        "job_id": job.id,
        "filename": run.filename if run else "",
        "format": (run.file_format if run else "") or result.get("format", ""),
        "source": run.source if run else "",
        "source_url": run.source_url if run else "",
        "dry_run": run.dry_run if run else bool(job.params.get("dry_run")),
        "status": job.status,
        "phase": job.phase,
        "progress": job.progress,
        "total_rows": result.get("total_rows", counters.get("total_rows")),
        "processed_rows": figure("processed_rows"),
        "success_count": figure("success_count"),
        "error_count": figure("error_count"),
        "created": figure("created"),
        "updated": figure("updated"),
        "unchanged": figure("unchanged"),
        "error": (job.error or "").split("\n\n", 1)[0],
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.finished_at,
        # Attempts it took: more than one after a lost worker (each interruption recorded).
        "attempts": job.attempts,
        "interruptions": job.interruptions,
    }
    if with_errors:
        report["errors"] = [
            {"row": row, "column": column, "message": message, "value": value}
            for row, column, message, value in ImportRowError.objects.filter(job=job)
            .order_by("row_number", "id")
            .values_list("row_number", "column", "message", "value")
        ]
    return report


#: What `import_completed` (and the `import.completed` webhook) carries of the report.
SUMMARY_FIELDS = (
    "filename",
    "status",
    "dry_run",
    "total_rows",
    "processed_rows",
    "success_count",
    "error_count",
    "created",
    "updated",
    "unchanged",
)


def import_summary(job: Job) -> dict:
    """The JSON-ready summary sent with `import_completed`: a part of `import_report`."""
    report = import_report(job, with_errors=False)
    return {
        "job_id": str(job.id),
        **{name: report[name] for name in SUMMARY_FIELDS},
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "completed_at": job.finished_at.isoformat() if job.finished_at else None,
    }


#: What a catalog import adds at the top level of its job's detail (`GET /api/jobs/{id}`,
#: through `JobKind.detail`): seed 004's job status fields that the generic job does not
#: have, and the import's own figures.
DETAIL_FIELDS = (
    "filename",
    "format",
    "source",
    "source_url",
    "dry_run",
    "total_rows",
    "processed_rows",
    "success_count",
    "error_count",
    "created",
    "updated",
    "unchanged",
    "errors",
)


def import_job_detail(job: Job) -> dict:
    """The `catalog.import` kind's detail fields (see DETAIL_FIELDS), JSON-ready.

    With `job_id` and `completed_at` too (the job's id and end, the generic detail's own
    spelling of `id` and `finished_at`), so seed 004's job status response is complete
    however the two dicts are merged; `status`, `progress`, `created_at` and `started_at`
    are the job's own fields and not repeated. `errors` holds every kept row error (the
    first IMPORT_MAX_ERRORS_KEPT; `error_count` counts all).
    """
    report = import_report(job)
    return {
        "job_id": str(job.id),
        **{name: report[name] for name in DETAIL_FIELDS},
        "completed_at": _moment(job.finished_at),
    }


def _moment(value) -> str | None:
    # The API's format for UTC times (as DRF writes them: ISO 8601 with Z).
    return None if value is None else value.isoformat().replace("+00:00", "Z")
