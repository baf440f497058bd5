"""`import_catalog_file`: stream a product file into the catalog in batches.

    result = import_catalog_file(path, ctx, ImportOptions(file_format="csv"))

The file is read one record at a time and each batch goes straight into a COPY to the
staging table (nothing holds the whole file), then PostgreSQL validates and upserts the batch
(services/staging.py) and the batch commits. Progress (percent, phase, counters) goes out
after every step and from a ticker at least twice a second, so a slow statement never leaves
the live stream silent. A cancel request lets the current batch finish and commit, then
stops: the counters always describe exactly what was committed.

Batch sizes adapt so one batch takes about IMPORT_BATCH_SECONDS: short enough to honour a
cancel within the job engine's grace period, long enough to keep per-statement costs small.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from core.exceptions import JobCancelled
from core.models.job import TERMINAL_STATUSES

from ..models import ImportRowError
from .columns import ColumnMap, ImportFileError
from .parsers import RowProblem, format_for_name, open_reader
from .staging import StagingTable

logger = logging.getLogger(__name__)

MIN_BATCH_ROWS = 1_000
FIRST_BATCH_ROWS = 10_000
RESULT_ERRORS = 100  # errors copied into the job result; all kept ones are in ImportRowError


@dataclass
class ImportOptions:
    """How to import one file. `job_id` (a core Job) is where row errors are stored."""

    file_format: str | None = None  # csv / xlsx / json / xml; None: from the file name
    dry_run: bool = False
    filename: str = ""
    job_id: uuid.UUID | str | None = None
    batch_rows: int = field(default_factory=lambda: settings.IMPORT_BATCH_ROWS)
    batch_seconds: float = field(default_factory=lambda: settings.IMPORT_BATCH_SECONDS)
    max_errors: int = field(default_factory=lambda: settings.IMPORT_MAX_ERRORS_KEPT)


@dataclass
class Totals:
    processed_rows: int = 0
    success_count: int = 0
    error_count: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_errors: list = field(default_factory=list)

    def counters(self) -> dict:
        return {
            "processed_rows": self.processed_rows,
            "success_count": self.success_count,
            "error_count": self.error_count,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


class _Progress:
    """Publishes progress through the ctx, at least every `interval` seconds.

    A cancel request surfaces as JobCancelled from ctx.progress(); it is remembered here
    and honoured by the importer at the next batch boundary instead of mid-batch.
    """

    def __init__(self, ctx, interval: float = 0.5):
        self.ctx = ctx
        self.interval = interval
        self.cancel_seen = False
        self._lock = threading.Lock()
        self._last = 0.0
        self._state: tuple = (0, "parsing", {})
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="import-progress", daemon=True)

    def start(self):
        self._ticker.start()

    def stop(self):
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join()

    def emit(self, percent: float, phase: str, **counters) -> None:
        with self._lock:
            self._state = (percent, phase, counters)
            self._send()

    def cancel_requested(self) -> bool:
        check = getattr(self.ctx, "cancel_requested", None)
        return self.cancel_seen or bool(check and check())

    def _send(self) -> None:
        percent, phase, counters = self._state
        self._last = time.monotonic()
        try:
            self.ctx.progress(percent, phase=phase, **counters)
        except JobCancelled:
            self.cancel_seen = True

    def _tick(self) -> None:
        # Runs while the job thread waits on PostgreSQL; repeats the latest state.
        while not self._stop.wait(self.interval / 2):
            with self._lock:
                if time.monotonic() - self._last >= self.interval:
                    self._send()


def import_catalog_file(path, ctx, options: ImportOptions | None = None) -> dict:
    """Import the product file at `path` into the catalog; returns the import's summary.

    `ctx` is a core JobContext or anything with `log(line)` and
    `progress(percent, phase=..., **counters)` (which may raise JobCancelled).
    Raises ImportFileError for a file that cannot be imported at all (missing columns,
    unreadable format) before anything is written, and JobCancelled after the batch during
    which a cancel was requested has committed.
    """
    options = options or ImportOptions()
    path = Path(path)
    file_format = options.file_format or format_for_name(options.filename or path.name)
    if file_format is None:
        raise ImportFileError(f"Cannot tell the format of '{path.name}' from its extension.")
    started = time.monotonic()
    totals = Totals()
    progress = _Progress(ctx)
    stage_name = f"import_stage_{uuid.UUID(str(options.job_id or uuid.uuid4())).hex}"
    ctx.log(
        f"Importing {options.filename or path.name} ({file_format}, "
        f"{path.stat().st_size} bytes){' as a dry run' if options.dry_run else ''}"
    )
    with open_reader(path, file_format) as reader:
        columns = ColumnMap(reader.header)
        if columns.ignored:
            ctx.log(f"Ignoring unknown columns: {', '.join(columns.ignored)}")
        _drop_orphan_stages()
        with connection.cursor() as cursor:
            stage = StagingTable(cursor, stage_name, columns.columns)
            stage.create()
            progress.start()
            try:
                _run_batches(reader, columns, stage, options, totals, progress, ctx)
            finally:
                progress.stop()
                stage.drop()
    seconds = time.monotonic() - started
    rate = totals.processed_rows / seconds if seconds else 0
    ctx.log(
        f"Done: {totals.processed_rows} rows in {seconds:.1f} s ({rate:,.0f} rows/s): "
        f"{totals.created} created, {totals.updated} updated, {totals.unchanged} unchanged, "
        f"{totals.error_count} rejected."
    )
    # Every row is written: a cancel that arrives now has nothing left to stop.
    with contextlib.suppress(JobCancelled):
        ctx.progress(100, phase="done", total_rows=totals.processed_rows, **totals.counters())
    return {
        "filename": options.filename or path.name,
        "format": file_format,
        "dry_run": options.dry_run,
        "total_rows": totals.processed_rows,
        **totals.counters(),
        "ignored_columns": columns.ignored,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rate),
        "errors": [_error_dict(e) for e in totals.kept_errors[:RESULT_ERRORS]],
        "errors_truncated": totals.error_count > RESULT_ERRORS,
    }


def _run_batches(reader, columns: ColumnMap, stage, options, totals, progress, ctx) -> None:
    rows = reader.rows()
    batch_rows = min(FIRST_BATCH_ROWS, options.batch_rows)
    rows_read = 0
    phase_counters = totals.counters
    while True:
        batch_started = time.monotonic()
        with transaction.atomic():
            stage.clear()
            read, pre_errors, exhausted = _copy_batch(rows, reader, columns, stage, batch_rows)
            rows_read += read
            if read == 0:
                break
            percent = reader.fraction() * 100
            progress.emit(percent * 0.99, "validating", rows_read=rows_read, **phase_counters())
            flagged = stage.validate()
            errors = pre_errors + flagged
            room = max(options.max_errors - len(totals.kept_errors), 0)
            kept = stage.flagged_rows(min(room, errors)) if errors else []
            if kept and options.job_id is not None:
                ImportRowError.objects.bulk_create(
                    ImportRowError(
                        job_id=options.job_id,
                        row_number=row,
                        column=column[:64],
                        message=message[:500],
                        value=(value or "")[:200],
                    )
                    for row, column, message, value in kept
                )
            progress.emit(percent * 0.99, "writing", rows_read=rows_read, **phase_counters())
            if options.dry_run:
                created, updated, distinct = stage.predict()
                unchanged = 0
            else:
                created, updated, distinct = stage.upsert()
                unchanged = distinct - created - updated
        # Committed: only now do the counters include this batch.
        totals.kept_errors.extend(kept)
        totals.processed_rows += read
        totals.error_count += errors
        totals.success_count += read - errors
        totals.created += created
        totals.updated += updated
        totals.unchanged += unchanged
        progress.emit(percent * 0.99, "parsing", rows_read=rows_read, **phase_counters())
        if progress.cancel_requested():
            ctx.log(f"Cancelled after {totals.processed_rows} rows; committed work is kept.")
            ctx.progress(phase="cancelled", **totals.counters())
            raise JobCancelled()
        if exhausted:
            break
        elapsed = max(time.monotonic() - batch_started, 1e-3)
        batch_rows = int(
            min(max(read / elapsed * options.batch_seconds, MIN_BATCH_ROWS), options.batch_rows)
        )


def _copy_batch(rows, reader, columns: ColumnMap, stage, limit: int):
    """COPY up to `limit` records into the staging table.

    Returns (records read, rows rejected here, whether the file is exhausted).
    """
    positions = columns.positions
    width = columns.width
    blank = (None,) * len(positions)
    sku_at = positions[0]
    fixers = _fixers(columns)
    read = pre_errors = 0
    exhausted = True
    with stage.copy(extra_columns=("err_column", "err_message", "err_value")) as copy:
        write = copy.write_row
        for row_no, values in rows:
            if type(values) is RowProblem:
                write((row_no, *blank, values.column, values.message, values.value[:200]))
                read += 1
                pre_errors += 1
            elif reader.strict_width and len(values) != width:
                if not any(values):
                    continue  # a blank line is not a record
                write(
                    (
                        row_no,
                        *blank,
                        "",
                        f"has {len(values)} fields; the header has {width}",
                        None,
                    )
                )
                read += 1
                pre_errors += 1
            elif not values[sku_at] and not any(values):
                continue  # an empty row (spreadsheets keep many)
            else:
                picked = [values[i] for i in positions]
                problem = None
                for index, fix in fixers:
                    try:
                        picked[index] = fix(picked[index])
                    except _BadValue as exc:
                        problem = (columns.columns[index], str(exc), str(picked[index])[:200])
                        break
                if problem is None:
                    write((row_no, *picked, None, None, None))
                else:
                    write((row_no, *picked, *problem))
                    pre_errors += 1
                read += 1
            if read >= limit:
                exhausted = False
                break
    return read, pre_errors, exhausted


class _BadValue(ValueError):
    pass


def _attributes(value):
    if value is None or value == "":
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        raise _BadValue("is not a JSON object") from None
    if not isinstance(parsed, dict):
        raise _BadValue("is not a JSON object")
    return json.dumps(parsed, ensure_ascii=False)


def _image_urls(value):
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if text.startswith("["):
        try:
            urls = json.loads(text)
        except ValueError:
            raise _BadValue("is not a JSON list of URLs") from None
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise _BadValue("is not a JSON list of URLs")
    else:
        urls = text.split("|")  # CSV / XLSX / XML: url1|url2
    return json.dumps([u.strip() for u in urls if u.strip()], ensure_ascii=False)


def _fixers(columns: ColumnMap) -> list:
    """Python checks for what PostgreSQL 15 cannot test without failing the statement."""
    fixes = {"attributes": _attributes, "image_urls": _image_urls}
    return [(i, fixes[name]) for i, name in enumerate(columns.columns) if name in fixes]


def _error_dict(error) -> dict:
    row, column, message, value = error
    return {"row": row, "column": column, "message": message, "value": value}


def _drop_orphan_stages() -> None:
    """Each import drops its staging table when it ends; a killed worker leaves one behind.
    Drop those whose job (named in the table name) has finished."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN core_job j ON replace(j.id::text, '-', '') = substr(c.relname, 14)"
            " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
            " AND c.relname LIKE 'import_stage_%%' AND j.status = ANY(%s)",
            [[str(s) for s in TERMINAL_STATUSES]],
        )
        for (name,) in cursor.fetchall():
            StagingTable(cursor, name, []).drop()
