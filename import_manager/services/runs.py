"""Starting catalog imports and running them as jobs (what views, jobs.py and other apps'
jobs call: `import_file` is the one way a job imports a file)."""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.exceptions import PlatformError
from core.models import Job, JobStatus
from core.services.jobs import JobContext, start_job

from ..jobs import CATALOG_IMPORT
from ..models import ImportRowError, ImportRun, ImportSource
from ..signals import import_completed
from .columns import ImportFileError
from .importer import ImportOptions, import_catalog_file
from .reports import SUMMARY_FIELDS

logger = logging.getLogger(__name__)


def data_path(relative: str) -> Path:
    """An absolute path inside DATA_DIR for a stored relative one (refuses escapes)."""
    root = Path(settings.DATA_DIR).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ImportFileError("The import file is outside the data directory.")
    return path


def relative_data_path(path: Path) -> str:
    return str(Path(path).resolve().relative_to(Path(settings.DATA_DIR).resolve()))


def start_file_import(
    path: Path,
    *,
    filename: str,
    file_format: str,
    owner=None,
    dry_run: bool = False,
    queue: str | None = None,
) -> Job:
    """Start a `catalog.import` job for a file already stored under DATA_DIR (on `queue`
    instead of `imports` when given: a worker set aside for large files, say)."""
    relative = relative_data_path(path)
    params = {
        "source": ImportSource.UPLOAD,
        "path": relative,
        "filename": filename,
        "format": file_format,
        "dry_run": dry_run,
    }
    with transaction.atomic():
        job = start_job(
            CATALOG_IMPORT, params=params, owner=owner, title=f"Import {filename}", queue=queue
        )
        ImportRun.objects.create(
            job=job,
            filename=filename,
            file_format=file_format,
            source=ImportSource.UPLOAD,
            stored_path=relative,
            file_size=Path(path).stat().st_size,
            dry_run=dry_run,
        )
    return job


def start_url_import(
    url: str, *, owner=None, dry_run: bool = False, file_format: str | None = None
) -> Job:
    """Start a `catalog.import` job that downloads `url` (SSRF-guarded) and imports it."""
    from .fetch import check_url, filename_for_url

    check_url(url)  # refuse private addresses now; the worker checks again when it fetches
    filename = filename_for_url(url)
    params = {"source": ImportSource.URL, "url": url, "format": file_format, "dry_run": dry_run}
    with transaction.atomic():
        job = start_job(CATALOG_IMPORT, params=params, owner=owner, title=f"Import {url[:200]}")
        ImportRun.objects.create(
            job=job,
            filename=filename,
            file_format=file_format or "",
            source=ImportSource.URL,
            source_url=url,
            dry_run=dry_run,
        )
    return job


def run_import_job(ctx: JobContext) -> dict:
    """The body of a `catalog.import` job: fetch the feed if any, then import the file."""
    params = ctx.params
    run, _ = ImportRun.objects.get_or_create(  # a retried job gets its own run row
        job=ctx.job,
        defaults={
            "filename": params.get("filename") or params.get("url", "")[:255],
            "file_format": params.get("format") or "",
            "source": params.get("source", ImportSource.UPLOAD),
            "source_url": params.get("url", ""),
            "stored_path": params.get("path", ""),
            "dry_run": bool(params.get("dry_run")),
        },
    )
    with _file_problems_recorded(ctx, ctx.job):
        if params.get("source") == ImportSource.URL:
            from .fetch import download_feed

            ctx.progress(0, phase="downloading")
            target_dir = Path(settings.DATA_DIR) / "downloads" / ctx.job.id.hex
            fetched = download_feed(params["url"], target_dir, file_format=params.get("format"))
            ctx.log(f"Downloaded {fetched.size} bytes from {params['url']}")
            run.stored_path = relative_data_path(fetched.path)
            run.filename = fetched.filename
            run.file_format = fetched.file_format
            run.file_size = fetched.size
            run.save(update_fields=["stored_path", "filename", "file_format", "file_size"])
        path = data_path(run.stored_path)
        if not path.is_file():
            raise ImportFileError("The import file is gone (it may have been cleaned up).")
    return import_file(path, ctx, job=ctx.job)


def import_file(
    path: Path,
    ctx,
    *,
    job: Job,
    filename: str = "",
    file_format: str | None = None,
    dry_run: bool = False,
) -> dict:
    """Import the file at `path` as the import of `job`; returns the import's summary.

    The one entry point for a job that imports a file: a `catalog.import` job (upload, feed)
    and a step of another job (scripts_runner's `full_import` workflow) alike. It records the
    job's ImportRun (kept as is when the launch created it; `filename`, `file_format` and
    `dry_run` describe a new one), imports with `ctx`'s log and progress (see
    `import_catalog_file`; row errors are stored against the job) and announces the import
    with `import_completed` after commit: for a `catalog.import` job once the job's final
    state is stored (receivers.py), for an import that is one step of a larger job as soon
    as the import has finished, with the import's own figures (the job goes on).
    """
    path = Path(path)
    run, _ = ImportRun.objects.get_or_create(
        job=job,
        defaults={
            "filename": (filename or path.name)[:255],
            "file_format": file_format or "",
            "source": ImportSource.UPLOAD,  # a file the platform holds, as an upload
            "stored_path": _stored_path(path),
            "file_size": path.stat().st_size if path.is_file() else None,
            "dry_run": dry_run,
        },
    )
    options = ImportOptions(
        file_format=run.file_format or None,
        dry_run=run.dry_run,
        filename=run.filename,
        job_id=job.id,
    )
    if job.attempts > 1:
        # A re-run after a lost worker reads the whole file again: the row errors it finds
        # replace the interrupted attempt's, so none is counted twice.
        ImportRowError.objects.filter(job_id=job.id).delete()
    started_at = timezone.now()
    with _file_problems_recorded(ctx, job):
        result = import_catalog_file(path, ctx, options)
    if job.kind != CATALOG_IMPORT.name:
        summary = {
            "job_id": str(job.id),
            **{name: result.get(name) for name in SUMMARY_FIELDS},
            "status": JobStatus.COMPLETED,  # the import's; its job is still running
            "started_at": started_at.isoformat(),
            "completed_at": timezone.now().isoformat(),
        }
        send_import_completed(job, summary)
    return result


def send_import_completed(job: Job, summary: dict) -> None:
    """Send `import_completed` (job, summary) once the current transaction commits."""

    def send():
        for _receiver, response in import_completed.send_robust(
            sender=ImportRun, job=job, summary=summary
        ):
            if isinstance(response, Exception):
                logger.error(
                    "an import_completed receiver failed for job %s", job.id, exc_info=response
                )

    transaction.on_commit(send)


@contextlib.contextmanager
def _file_problems_recorded(ctx, job: Job):
    try:
        yield
    except PlatformError as exc:
        # The file as a whole failed (format, header, feed): say why beside the row errors.
        ImportRowError.objects.create(job_id=job.id, message=exc.message[:500])
        ctx.log(f"Import failed: {exc.message}")
        raise


def _stored_path(path: Path) -> str:
    """`path` relative to DATA_DIR, or "" for a file elsewhere (not kept with the run)."""
    try:
        return relative_data_path(path)
    except ValueError:
        return ""


def remove_stored_file(run: ImportRun) -> None:
    """Delete the file of an import whose job is deleted (its folder is the run's own)."""
    if not run.stored_path:
        return
    try:
        path = data_path(run.stored_path)
    except ImportFileError:
        return
    folder = path.parent
    # Each stored file has a folder of its own: uploads/<id>/<name>, downloads/<id>/<name>.
    if folder.parent.name in ("uploads", "downloads") and folder.parent.parent == data_path("."):
        shutil.rmtree(folder, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
