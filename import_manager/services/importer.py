"""`import_catalog_file`: stream a product file into the catalog in batches.

    result = import_catalog_file(path, ctx, ImportOptions(file_format="csv"))

The file is read one record at a time and each batch goes straight into a COPY to the
staging table (nothing holds the whole file); PostgreSQL validates the rows
(services/staging.py), then the product app merges the winners into the catalog
(`product.services.merge`), batch by batch, each batch one commit. Progress (percent,
phase, counters) goes out after every step and from a ticker at least twice a second, so a
slow statement never leaves the live stream silent. A cancel request lets the current batch
finish and commit, then stops: the counters always describe exactly what was committed.

Batch sizes adapt so one batch takes about IMPORT_BATCH_SECONDS: short enough to honour a
cancel within the job engine's grace period, long enough to keep per-statement costs small.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from core.exceptions import JobCancelled
from core.models.job import TERMINAL_STATUSES
from core.services.db_threads import SideConnection, map_on_connections
from product.columns import BY_NAME, Kind
from product.services.merge import bulk_merge

from ..models import ImportRowError
from .columns import ColumnMap, ImportFileError, python_checked
from .csv_copy import can_copy_csv, copy_csv_file
from .parsers import RowProblem, format_for_name, open_reader
from .staging import StagingTable

logger = logging.getLogger(__name__)

WORK_MEM = "64MB"
# Records are staged and accounted for in chunks; a write batch is one or more chunks.
CHUNK_ROWS = 5_000
# Share of the progress bar for reading + staging the file, and through validation.
STAGED_PERCENT = 20
VALIDATED_PERCENT = 25
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
    writers: int = field(default_factory=lambda: settings.IMPORT_WRITERS)
    csv_part_bytes: int = field(default_factory=lambda: settings.IMPORT_CSV_PART_BYTES)


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

    def __init__(self, ctx, interval: float = 0.4):
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
        # Runs while the job thread waits on PostgreSQL; repeats the latest state. It wakes
        # when the next update is due rather than polling, so updates leave at most
        # `interval` apart and the rest of the once-a-second budget covers delivery.
        while True:
            with self._lock:
                due = self._last + self.interval
            if self._stop.wait(max(due - time.monotonic(), 0.01)):
                return
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
            # A re-run after a lost worker finds its first attempt's table (named after the
            # job): start from an empty one, never on top of those rows.
            stage.drop()
            stage.create()
            # The whole-file statements (validation, the window over SKUs) sort and hash
            # 500k rows: with the default 4 MB they would spill to disk.
            cursor.execute("SET work_mem = %s", [WORK_MEM])
            progress.start()
            try:
                _run(reader, columns, stage, options, totals, progress, ctx)
            finally:
                progress.stop()
                stage.drop()
                cursor.execute("RESET work_mem")
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


@dataclass
class Chunk:
    """A run of consecutive staged records: rows (first_row - 1, last_row]."""

    first_row: int
    last_row: int = 0
    rows: int = 0
    errors: int = 0  # rows rejected (known after the validation)


def _run(reader, columns: ColumnMap, stage, options, totals, progress, ctx) -> None:
    chunk_rows = max(min(CHUNK_ROWS, options.batch_rows), 1)
    connections = _connections(options)
    progress.emit(0, "parsing", rows_read=0, **totals.counters())
    # A second connection validates the parts of a CSV file already staged while the next
    # part is copied in (see csv_copy.py); other files are validated once staged.
    with SideConnection() if connections > 1 else contextlib.nullcontext() as side:
        chunks, parts_checked = _stage_file(
            reader, columns, stage, chunk_rows, progress, ctx.log, side, options.csv_part_bytes
        )
        if progress.cancel_requested():
            _stop(ctx, totals)
        staged = sum(c.rows for c in chunks)
        progress.emit(STAGED_PERCENT, "validating", rows_read=staged, **totals.counters())
        if parts_checked:
            side.finish()
        else:
            _flag_invalid_rows(stage, connections)
    superseded = stage.mark_superseded()
    stage.summarize_row_index()
    # Counts every flagged row, those the reader already rejected included.
    flagged = stage.errors_per_chunk([c.first_row for c in chunks])
    for index, chunk in enumerate(chunks):
        chunk.errors = flagged.get(index, 0)
    errors = sum(c.errors for c in chunks)
    kept = stage.flagged_rows(min(options.max_errors, errors))
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
    totals.kept_errors = kept
    winners = staged - errors - superseded
    ctx.log(
        f"Read {staged} rows: {errors} rejected, {winners} distinct SKUs to write "
        f"({staged - errors - winners} rows superseded by a later row of the same SKU)."
    )
    if progress.cancel_requested():
        _stop(ctx, totals)
    progress.emit(VALIDATED_PERCENT, "writing", rows_read=staged, **totals.counters())
    products = stage.products()
    if options.dry_run:
        created, updated, _ = products.predict()
        _count(totals, chunks, created, updated, 0)
        return
    shield = getattr(ctx, "uninterruptible", contextlib.nullcontext)
    # A merge writing a large share of the catalog drops the secondary indexes and builds
    # them again when the block ends, whether it ends normally, by a cancel or by an error.
    with bulk_merge(products, winners, log=ctx.log, shield=shield) as plan:
        writing_started = time.monotonic()
        _write(chunks, products, options, totals, progress, ctx, staged, winners, plan.insert_only)
        ctx.log(
            f"Wrote {totals.created} new and {totals.updated} changed products in "
            f"{time.monotonic() - writing_started:.1f} s."
        )
        if plan.indexes_suspended:
            progress.emit(99, "indexing", rows_read=staged, **totals.counters())


def _write(
    chunks, products, options, totals, progress, ctx, staged: int, winners: int, insert_only: bool
) -> None:
    """Merge the winners (`products`, a StagedProducts) batch by batch (ranges of rows),
    each batch one commit.

    Each SKU has one winner in the whole file, so batches touch disjoint products and
    `options.writers` connections write them side by side (PostgreSQL spends most of an
    import maintaining indexes: a second backend uses the second core). Batch sizes adapt so
    a batch takes about options.batch_seconds. On a cancel no new batch starts; the ones
    running finish and are counted, so the counters match what was committed.
    """
    writers = _connections(options)
    tasks: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()
    if writers == 1:
        threads = []
    else:
        threads = [
            threading.Thread(
                target=_writer, args=(products, tasks, results, insert_only), daemon=True
            )
            for _ in range(writers)
        ]
        for thread in threads:
            thread.start()
    state = {"index": 0, "per_batch": 1, "in_flight": 0, "written": 0}

    def hand_out() -> None:
        group = chunks[state["index"] : state["index"] + state["per_batch"]]
        state["index"] += len(group)
        state["in_flight"] += 1
        if threads:
            tasks.put(group)
        else:
            results.put(_merge(products, group, insert_only))

    def settle(block: bool = True) -> Exception | None:
        group, outcome, elapsed = results.get(block=block)
        state["in_flight"] -= 1
        if isinstance(outcome, Exception):
            return outcome
        created, updated, distinct = outcome
        # Committed: only now do the counters include these rows.
        _count(totals, group, created, updated, distinct - created - updated)
        state["written"] += distinct
        share = state["written"] / winners if winners else 1.0
        percent = VALIDATED_PERCENT + (99 - VALIDATED_PERCENT) * share
        progress.emit(percent, "writing", rows_read=staged, **totals.counters())
        rows = sum(c.rows for c in group)
        target = min(max(rows / max(elapsed, 1e-3) * options.batch_seconds, 1), options.batch_rows)
        state["per_batch"] = int(target // max(group[0].rows, 1)) or 1
        return None

    failure = None
    try:
        for _ in range(writers):
            if state["index"] < len(chunks):
                hand_out()
        while state["in_flight"]:
            failure = settle() or failure
            stop = failure is not None or progress.cancel_requested()
            if not stop and state["index"] < len(chunks):
                hand_out()
    finally:
        # Even when interrupted, count what the writers still commit before returning.
        while state["in_flight"]:
            failure = settle() or failure
        for _ in threads:
            tasks.put(None)
        for thread in threads:
            thread.join()
    if failure is not None:
        raise failure
    if state["index"] < len(chunks):
        _stop(ctx, totals)


def _connections(options) -> int:
    """Connections working on the staged rows side by side."""
    # Other connections cannot see rows staged inside an enclosing transaction (tests).
    return 1 if connection.in_atomic_block else max(options.writers, 1)


def _flag_invalid_rows(stage, connections: int) -> None:
    """Run the validation checks, splitting the staging table's pages among `connections`
    (the checks cost ~5 µs a row, most of the validation phase, and use one core each)."""
    pages = stage.page_count() if connections > 1 else 0
    if pages < connections * 8:
        stage.flag_invalid()
        return
    bounds = [pages * i // connections for i in range(connections)] + [None]

    def flag_part(part: int) -> None:
        with connection.cursor() as cursor:
            stage.bound_to(cursor).flag_invalid(bounds[part], bounds[part + 1])

    map_on_connections(flag_part, range(connections), connections)


def _check_part(stage, after_row: int, upto_row: int) -> None:
    """Validate the rows (after_row, upto_row] of the staging table on this thread's
    connection (a committed part of a CSV file)."""
    with connection.cursor() as cursor:
        stage.bound_to(cursor).flag_invalid_rows(after_row, upto_row)


def _merge(products, group, insert_only: bool = False) -> tuple:
    """Write one batch: (group, (created, updated, winners) or the exception, seconds)."""
    started = time.monotonic()
    try:
        rows = (group[0].first_row - 1, group[-1].last_row)
        outcome = products.write(*rows, insert_only=insert_only)
    except Exception as exc:  # noqa: BLE001 - handed to the job's thread, raised there
        outcome = exc
    return group, outcome, time.monotonic() - started


def _writer(products, tasks: queue.Queue, results: queue.Queue, insert_only: bool) -> None:
    """A writer thread: merges the batches it is given on its own connection."""
    try:
        with connection.cursor() as cursor:
            own = products.bound_to(cursor)
            while (group := tasks.get()) is not None:
                results.put(_merge(own, group, insert_only))
    except Exception as exc:  # noqa: BLE001 - e.g. no connection: reported by the job
        while (group := tasks.get()) is not None:
            results.put((group, exc, 0.0))
    finally:
        connection.close()


def _count(totals, chunks, created: int, updated: int, unchanged: int) -> None:
    rows = sum(c.rows for c in chunks)
    errors = sum(c.errors for c in chunks)
    totals.processed_rows += rows
    totals.error_count += errors
    totals.success_count += rows - errors
    totals.created += created
    totals.updated += updated
    totals.unchanged += unchanged


def _stop(ctx, totals) -> None:
    ctx.log(f"Stopping after {totals.processed_rows} rows; what was committed stays.")
    with contextlib.suppress(JobCancelled):
        ctx.progress(phase="stopping", **totals.counters())
    # The job's own check raises the precise reason: a cancel, or its worker shutting down
    # (then the engine re-queues the import, which converges on the same catalog).
    check = getattr(ctx, "check_cancelled", None)
    if check is not None:
        check()
    raise JobCancelled()


def _stage_file(
    reader, columns: ColumnMap, stage, chunk_rows: int, progress, log, side, part_bytes: int
) -> tuple[list[Chunk], bool]:
    """COPY every record into the staging table; returns the chunks of rows staged and
    whether their validation was handed to `side` (a SideConnection, or None) part by part.

    A well-formed CSV file goes through PostgreSQL's CSV parser (csv_copy.py), anything else
    record by record. Stops early (returning what was staged) when a cancel was requested.
    """
    if can_copy_csv(reader, columns):
        last = [0.0]

        def report(fraction: float) -> bool:
            if time.monotonic() - last[0] >= 0.25:
                last[0] = time.monotonic()
                progress.emit(STAGED_PERCENT * fraction, "parsing")
            return progress.cancel_requested()

        def check_part(after_row: int, upto_row: int) -> None:
            side.submit(_check_part, stage, after_row, upto_row)

        bounds = copy_csv_file(
            reader,
            columns,
            stage,
            chunk_rows,
            report,
            log,
            part_bytes=part_bytes,
            on_part=check_part if side is not None else None,
        )
        if bounds is not None:
            return [Chunk(first_row=a, last_row=b, rows=n) for a, b, n in bounds], side is not None
        # Refused: the parts staged before go, once the side connection has let go of them.
        if side is not None:
            side.discard()
        stage.clear()
        reader.restart()
    return _stage_records(reader, columns, stage, chunk_rows, progress), False


def _stage_records(reader, columns: ColumnMap, stage, chunk_rows: int, progress) -> list[Chunk]:
    """The row-by-row path: every reader record checked in Python and COPYed."""
    positions = columns.positions
    width = columns.width
    blank = (None,) * len(positions)
    sku_at = positions[0]
    fixers = _fixers(columns)
    chunks: list[Chunk] = []
    chunk = None
    read = 0
    next_report = time.monotonic() + 0.25
    with stage.copy(extra_columns=("err_column", "err_message", "err_value")) as copy:
        write = copy.write_row
        for row_no, values in reader.rows():
            problem = None
            if type(values) is RowProblem:
                problem = (values.column, values.message, values.value[:200])
                picked = blank
            elif reader.strict_width and len(values) != width:
                if not any(values):
                    continue  # a blank line is not a record
                problem = ("", f"has {len(values)} fields; the header has {width}", None)
                picked = blank
            elif not values[sku_at] and not any(values):
                continue  # an empty row (spreadsheets keep many)
            else:
                picked = [values[i] for i in positions]
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
            if chunk is None or chunk.rows >= chunk_rows:
                chunk = Chunk(first_row=row_no)
                chunks.append(chunk)
            chunk.rows += 1
            chunk.last_row = row_no
            read += 1
            if read & 1023 == 0 and time.monotonic() >= next_report:
                next_report = time.monotonic() + 0.25
                progress.emit(STAGED_PERCENT * reader.fraction(), "parsing", rows_read=read)
                if progress.cancel_requested():
                    break
    return chunks


class _BadValue(ValueError):
    pass


def _json_object(value):
    if value is None or value == "":
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        raise _BadValue("is not a JSON object") from None
    if not isinstance(parsed, dict):
        raise _BadValue("is not a JSON object")
    return json.dumps(parsed, ensure_ascii=False)


def _url_list(value):
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
    """Python checks for what PostgreSQL 15 cannot test without failing the statement
    (the kinds in columns.PYTHON_CHECKED_KINDS)."""
    fixes = {Kind.JSON_OBJECT: _json_object, Kind.URL_LIST: _url_list}
    checked = set(python_checked(columns.columns))
    return [
        (i, fixes[BY_NAME[name].kind]) for i, name in enumerate(columns.columns) if name in checked
    ]


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
