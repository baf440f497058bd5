"""Suspend the product table's secondary indexes for a bulk load and build them again.

PostgreSQL's own advice for loading much data ("Populating a Database"): drop the indexes,
load, create them again. Building an index once over the loaded table is far cheaper than
maintaining it row by row, the trigram GIN indexes above all. Measured with 450k new rows
on 2 cores: one INSERT with every index in place 52 s; without the secondary indexes 4.3 s,
then building them 3.6-4.2 s, plus 8.6 s for the description trigram index.

Only secondary indexes are suspended. The primary key and the unique index on lower(sku)
stay, so the constraints hold throughout and the importer's `ON CONFLICT (lower(sku))`
works as always. Readers never see wrong results, only slower plans while an index is away.

Each suspended index is recorded (`SuspendedIndex`: its name and pg_get_indexdef) in the
transaction that drops it and the record is deleted once the index is back, so a worker
that dies mid-load leaves the records behind and `restore_suspended_indexes` (run by the
"product.restore_indexes" job, which beat starts when records are left over) rebuilds them.

Indexes in DEFERRED_INDEXES are not rebuilt before the load ends but right after, by that
job, with CREATE INDEX CONCURRENTLY (reads and writes go on meanwhile). They are the trigram
indexes that only substring search uses: the description one alone costs as much CPU as the
whole rest of a fresh 500k-row import, the SKU one (`search` only; an exact SKU lookup uses
the unique index) about 1.2 s of a 13 s import. Those filters stay correct without them,
served by a scan, for the ~20 s the job takes.

One PostgreSQL advisory lock serialises everything that changes the set of indexes: one
bulk load at a time (another import meanwhile simply maintains indexes as usual), and a
restore never runs during a load.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.models import Job, JobStatus
from core.services.db_threads import map_on_connections
from core.services.jobs import JobContext, start_job
from product.jobs import RESTORE_INDEXES
from product.models import Product, SuspendedIndex

logger = logging.getLogger(__name__)

#: Built after a bulk load, concurrently, by the restore job (see the module docstring).
DEFERRED_INDEXES = frozenset({"product_description_trgm", "product_sku_trgm"})
#: pg_advisory_lock key: "changing the product table's indexes" (an arbitrary constant).
INDEX_LOCK_KEY = 7_301_947_112
#: How long a load adopting indexes left suspended waits for that lock.
INDEX_LOCK_WAIT_SECONDS = 20
_TABLE = Product._meta.db_table


def _noop(line: str) -> None:
    pass


@contextlib.contextmanager
def bulk_load(
    rows: int,
    *,
    log: Callable[[str], None] = _noop,
    shield: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Iterator[bool]:
    """Suspend the secondary indexes around a load writing `rows` products (created or
    changed) when that pays off.

    It does when the load writes at least PRODUCT_BULK_LOAD_MIN_ROWS products and at least
    PRODUCT_BULK_LOAD_MIN_SHARE of the catalog's current size: a rebuild costs in
    proportion to the catalog, maintaining in proportion to the rows written. Measured at
    500k products: ~100 µs a changed row with every index in place, ~30 µs without, ~25 µs
    a catalog row to rebuild, so rebuilding wins from about a third of the catalog on.
    Yields whether the indexes were suspended. On leaving the block, by any exit, the
    indexes are built again inside `shield()` (a job passes ctx.uninterruptible, so a
    cancel cannot cut the rebuild short); the deferred ones by a job started at the end.
    """
    # Indexes an interrupted load left suspended (its worker died) are this load's to
    # rebuild, whatever its size: the re-run of that load, typically.
    leftover = SuspendedIndex.objects.filter(deferred=False).exists()
    wanted = rows >= settings.PRODUCT_BULK_LOAD_MIN_ROWS and (
        rows >= Product.objects.count() * settings.PRODUCT_BULK_LOAD_MIN_SHARE
    )
    if not (wanted or leftover):
        yield False
        return
    if not _take_index_lock(wait=leftover):
        log("Another bulk load or index restore is running: indexes are maintained as usual.")
        try:
            yield False
        finally:
            if leftover:
                start_restore_job_if_needed()
        return
    try:
        names = suspend_secondary_indexes() if wanted else []
        if names:
            log(f"Bulk load: {len(names)} indexes dropped, to be built again after writing.")
        if leftover:
            log("Indexes left suspended by an interrupted load are built again after writing.")
        yield bool(names) or leftover
    finally:
        try:
            started = time.monotonic()
            with shield():
                built = restore_suspended_indexes(
                    include_deferred=False, connections=settings.PRODUCT_INDEX_BUILDERS, log=log
                )
            if built:
                log(f"Rebuilt {len(built)} indexes in {time.monotonic() - started:.1f} s.")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [INDEX_LOCK_KEY])
            start_restore_job_if_needed()


def _take_index_lock(*, wait: bool) -> bool:
    """The lock on changing the product table's indexes. With `wait`, for a while: the
    re-run of a load whose worker died starts while the dead load's database session may
    still be ending (it holds the lock until then)."""
    with connection.cursor() as cursor:
        if not wait:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [INDEX_LOCK_KEY])
            return cursor.fetchone()[0]
        with transaction.atomic():
            cursor.execute("SET LOCAL lock_timeout = %s", [f"{INDEX_LOCK_WAIT_SECONDS}s"])
            try:
                with transaction.atomic():
                    cursor.execute("SELECT pg_advisory_lock(%s)", [INDEX_LOCK_KEY])
            except OperationalError:
                return False
    return True


def suspend_secondary_indexes() -> list[str]:
    """Drop the product table's non-unique indexes, recording each; returns their names.

    Gives up (returning []) when the table's lock cannot be had within a few seconds: a
    long query is reading it, and waiting would stall every request queued behind us.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
                " JOIN pg_class i ON i.oid = x.indexrelid"
                " WHERE x.indrelid = %s::regclass AND NOT x.indisunique AND NOT x.indisprimary"
                " AND x.indisvalid ORDER BY i.relname",
                [_TABLE],
            )
            found = cursor.fetchall()
            for name, definition in found:
                SuspendedIndex.objects.update_or_create(
                    name=name,
                    defaults={"definition": definition, "deferred": name in DEFERRED_INDEXES},
                )
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    except OperationalError as exc:
        logger.warning("not suspending the product indexes: %s", exc)
        return []
    return [name for name, _ in found]


def restore_suspended_indexes(
    *,
    include_deferred: bool = True,
    concurrently: bool = False,
    connections: int = 1,
    log: Callable[[str], None] = _noop,
) -> list[str]:
    """Build every recorded index again (the deferred ones only if `include_deferred`).

    `concurrently` uses CREATE INDEX CONCURRENTLY (no write lock, slower; not inside a
    transaction). `connections` > 1 builds that many indexes side by side, each on its own
    connection. An index that already exists and is valid just loses its record; an
    invalid one (left by a failed concurrent build) is dropped and built again. Returns the
    names built.
    """
    pending = SuspendedIndex.objects.all()
    if not include_deferred:
        pending = pending.filter(deferred=False)
    work = list(pending)
    if not work:
        return []
    if connections <= 1 or len(work) == 1 or connection.in_atomic_block:
        built = {record.name for record in work if _rebuild(record, concurrently, log)}
    else:
        built = _rebuild_in_parallel(work, min(connections, len(work)), concurrently, log)
    return [record.name for record in work if record.name in built]


def _rebuild_in_parallel(work: list, threads: int, concurrently: bool, log) -> set[str]:
    # Largest first, so the long GIN builds do not end up last on one connection.
    ordered = sorted(work, key=lambda r: ("gin" not in r.definition.lower(), r.name))
    built = map_on_connections(lambda record: _rebuild(record, concurrently, log), ordered, threads)
    return {record.name for record, was_built in zip(ordered, built, strict=True) if was_built}


def _rebuild(record: SuspendedIndex, concurrently: bool, log) -> bool:
    """Build the recorded index unless it exists and is valid; deletes the record. Returns
    whether it was built."""
    quoted = connection.ops.quote_name(record.name)
    statement = record.definition.replace(
        "CREATE INDEX ",
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS ",
        1,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE i.relname = %s AND x.indrelid = %s::regclass",
            [record.name, _TABLE],
        )
        row = cursor.fetchone()
        if row is not None and not row[0]:
            cursor.execute(f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}{quoted}")
        build = row is None or not row[0]
        if build:
            cursor.execute("SET maintenance_work_mem = %s", [settings.PRODUCT_INDEX_BUILD_MEMORY])
            try:
                cursor.execute(statement)
            finally:
                cursor.execute("RESET maintenance_work_mem")
            log(f"Built index {record.name}.")
    SuspendedIndex.objects.filter(pk=record.pk).delete()
    return build


def start_restore_job_if_needed():
    """Start the restore job once the current transaction commits, unless nothing is left
    to restore or such a job is running or was queued recently. Returns the job or None.

    A job queued longer ago than the beat interval and still pending has most likely lost
    its broker message, and a running one whose heartbeat is older than
    JOB_LOST_AFTER_SECONDS lost its worker (job_recovery re-queues or fails it): for either,
    another one is started (restores are idempotent and serialised).
    """
    if not SuspendedIndex.objects.exists():
        return None
    now = timezone.now()
    queued_since = now - timedelta(seconds=settings.PRODUCT_INDEX_RESTORE_INTERVAL_SECONDS)
    alive_since = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    active = Job.objects.filter(kind=RESTORE_INDEXES.name).filter(
        Q(status=JobStatus.RUNNING, heartbeat_at__gte=alive_since)
        | Q(status=JobStatus.PENDING, created_at__gte=queued_since)
    )
    if active.exists():
        return None
    return start_job(RESTORE_INDEXES, title="Build the catalog's deferred indexes")


def restore_indexes_when_free(*, log: Callable[[str], None] = _noop) -> list[str]:
    """Wait for any bulk load to finish, then build every recorded index concurrently."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [INDEX_LOCK_KEY])
    try:
        return restore_suspended_indexes(include_deferred=True, concurrently=True, log=log)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [INDEX_LOCK_KEY])


def run_restore_indexes_job(ctx: JobContext) -> dict:
    """The `product.restore_indexes` job: build the indexes a bulk load suspended,
    concurrently (reads and writes go on).

    Not cancellable half-way: an interrupted concurrent build leaves an invalid index.
    """
    ctx.log("waiting for any bulk load to finish")
    ctx.progress(0, phase="waiting")
    with ctx.uninterruptible():
        built = restore_indexes_when_free(log=ctx.log)
    ctx.log(f"built {len(built)} indexes" if built else "no index was left to build")
    ctx.progress(100, phase="done", built=len(built))
    return {"built": built}
