"""A large import into a small catalog: the product table's secondary indexes are dropped for
the writes and built again afterwards (the description trigram index by a follow-up job)."""

import contextlib
import time
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core.models import Job, JobLogLine, JobStatus
from core.services.jobs import cancel_job, execute_job
from core.testing.helpers import run_in_thread, wait_until
from import_manager.jobs import CATALOG_IMPORT
from import_manager.services.importer import ImportOptions, import_catalog_file
from product.jobs import RESTORE_INDEXES
from product.models import Product, SuspendedIndex
from product.services.catalog_indexes import restore_suspended_indexes
from product.testing.indexes import (
    DEFERRED,
    invalid_indexes,
    kept_indexes,
    other_session,
    product_indexes,
    recorded_index_drops,
)

from .helpers import HEADER, FakeCtx, catalog, write_csv

pytestmark = pytest.mark.usefixtures("indexes_before")

MIN_ROWS = 50
FIRST = 250  # BL-000 .. BL-249, then bl-000, bl-002 .. bl-098 again: 300 rows, 250 SKUs
ROWS = [
    [f"BL-{i:03d}", f"Item {i}", f"first description {i}", f"{i % 90 + 1}.50", "true"]
    for i in range(FIRST)
] + [
    [f"bl-{i:03d}", f"Item {i} v2", f"second description {i}", "7", "false"]
    for i in range(0, 100, 2)
]
EXPECTED = {
    f"BL-{i:03d}": (f"Item {i}", f"first description {i}", f"{i % 90 + 1}.50", True)
    for i in range(FIRST)
    if i >= 100 or i % 2
} | {
    f"bl-{i:03d}": (f"Item {i} v2", f"second description {i}", "7.00", False)
    for i in range(0, 100, 2)
}
#: pg_advisory lock key of the insert gate of the cancel test (arbitrary).
GATE_KEY = 4_242_017


@pytest.fixture(autouse=True)
def bulk_min(settings):
    settings.PRODUCT_BULK_LOAD_MIN_ROWS = MIN_ROWS


class ShieldedCtx(FakeCtx):
    """A FakeCtx with ctx.uninterruptible(); remembers the lines logged inside it."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.shielded: list[str] = []

    @contextlib.contextmanager
    def uninterruptible(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def log(self, line):
        super().log(line)
        if self.depth:
            self.shielded.append(line)


def bulk_lines(lines) -> list[str]:
    return [line for line in lines if line.startswith("Bulk load")]


@pytest.mark.django_db(transaction=True)
def test_import_into_an_empty_catalog_drops_the_indexes_and_builds_them_again(
    tmp_path, indexes_before, enqueued_jobs
):
    secondary = set(indexes_before) - kept_indexes()
    ctx = ShieldedCtx()

    with recorded_index_drops() as drops:
        result = import_catalog_file(
            write_csv(tmp_path / "bulk.csv", ROWS), ctx, ImportOptions(batch_rows=50)
        )
        dropped = drops.names()

    assert bulk_lines(ctx.lines) == [
        f"Bulk load: {len(secondary)} indexes dropped, to be built again after writing."
    ]
    assert sorted(dropped) == sorted(secondary)
    assert catalog() == EXPECTED
    assert (result["total_rows"], result["success_count"], result["error_count"]) == (300, 300, 0)
    assert (result["created"], result["updated"]) == (250, 0)
    # Every index is back and valid, except the deferred ones, left to the restore job.
    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    assert invalid_indexes() == []
    records = SuspendedIndex.objects.values_list("name", "deferred", "definition")
    assert set(records) == {(name, True, indexes_before[name]) for name in DEFERRED}
    assert sorted(ctx.shielded) == sorted(f"Built index {n}." for n in secondary - DEFERRED)
    assert "indexing" in ctx.phases()
    assert [job.kind for job in enqueued_jobs] == [RESTORE_INDEXES.name]
    assert Job.objects.get().status == JobStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_import_writing_less_than_half_the_catalog_keeps_every_index(
    tmp_path, indexes_before, enqueued_jobs
):
    # 250 products written into a catalog of 501: maintaining them costs less than
    # rebuilding the catalog's indexes.
    Product.objects.bulk_create(
        Product(sku=f"OLD-{i}", name=f"Old {i}", price=Decimal("1.00"))
        for i in range(2 * FIRST + 1)
    )
    ctx = ShieldedCtx()

    with recorded_index_drops() as drops:
        result = import_catalog_file(
            write_csv(tmp_path / "p.csv", ROWS), ctx, ImportOptions(batch_rows=50)
        )
        dropped = drops.names()

    assert bulk_lines(ctx.lines) == []
    assert dropped == []
    assert product_indexes() == indexes_before
    assert ctx.shielded == []
    assert (result["created"], result["error_count"]) == (250, 0)
    assert {sku: v for sku, v in catalog().items() if not sku.startswith("OLD-")} == EXPECTED
    assert not SuspendedIndex.objects.exists()


def import_with_index_drops(path) -> tuple[dict, list[str], list[str]]:
    """(the import's result, the indexes it dropped, its bulk-load log lines)."""
    ctx = ShieldedCtx()
    with recorded_index_drops() as drops:
        result = import_catalog_file(path, ctx, ImportOptions(batch_rows=50))
        dropped = drops.names()
    return result, dropped, bulk_lines(ctx.lines)


@pytest.mark.django_db(transaction=True)
def test_reimport_changing_most_of_the_catalog_drops_the_indexes_and_one_changing_little_does_not(
    tmp_path, indexes_before, enqueued_jobs
):
    base = ROWS[:FIRST]  # 250 products, one row each
    first = write_csv(tmp_path / "first.csv", base)
    import_with_index_drops(first)
    restore_suspended_indexes()  # what the restore job would do
    secondary = set(indexes_before) - kept_indexes()

    # The same file again: every product equal, nothing to write, nothing dropped.
    result, dropped, lines = import_with_index_drops(first)
    assert (dropped, lines, result["unchanged"]) == ([], [], 250)

    # 60 prices changed: more than the minimum (50), less than half the catalog.
    some = [[*row[:3], "99", row[4]] if i < 60 else row for i, row in enumerate(base)]
    result, dropped, lines = import_with_index_drops(write_csv(tmp_path / "some.csv", some))
    assert (dropped, lines, result["updated"], result["unchanged"]) == ([], [], 60, 190)

    # Every price changed: rebuilding pays off.
    every = [[*row[:3], "55", row[4]] for row in base]
    result, dropped, lines = import_with_index_drops(write_csv(tmp_path / "every.csv", every))
    assert sorted(dropped) == sorted(secondary)
    assert len(lines) == 1
    assert (result["created"], result["updated"]) == (0, 250)
    assert set(Product.objects.values_list("price", flat=True)) == {Decimal("55.00")}
    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    restore_suspended_indexes()
    assert product_indexes() == indexes_before
    assert invalid_indexes() == []


@pytest.mark.django_db
def test_dry_run_never_drops_an_index(tmp_path, indexes_before):
    ctx = ShieldedCtx()

    with recorded_index_drops() as drops:
        result = import_catalog_file(
            write_csv(tmp_path / "p.csv", ROWS), ctx, ImportOptions(dry_run=True)
        )
        dropped = drops.names()

    assert result["dry_run"] is True and result["created"] == 250
    assert bulk_lines(ctx.lines) == []
    assert dropped == []
    assert product_indexes() == indexes_before
    assert not Product.objects.exists()
    assert not SuspendedIndex.objects.exists()
    assert not Job.objects.exists()


@contextlib.contextmanager
def insert_gate(sku: str):
    """Make inserting the product `sku` wait while the yielded session (psycopg, another
    connection) holds the advisory lock GATE_KEY: a test-only BEFORE INSERT trigger."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_insert_gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF lower(NEW.sku) = '{sku.lower()}' THEN"
            f" PERFORM pg_advisory_xact_lock_shared({GATE_KEY}); END IF;"
            " RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_insert_gate BEFORE INSERT ON product_product"
            " FOR EACH ROW EXECUTE FUNCTION test_insert_gate()"
        )
    try:
        with other_session() as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", [GATE_KEY])
            yield holder
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS test_insert_gate ON product_product")
            cursor.execute("DROP FUNCTION IF EXISTS test_insert_gate()")


def someone_waits_at_the_gate(session) -> bool:
    return bool(
        session.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND objid = %s",
            [GATE_KEY],
        ).fetchone()[0]
    )


@pytest.mark.django_db(transaction=True)
def test_cancelled_bulk_import_still_rebuilds_the_indexes_and_counts_what_was_committed(
    client_for, data_dir, settings, indexes_before, enqueued_jobs
):
    # Batches of 20 rows written one at a time; the second batch holds BL-025, whose insert
    # waits at the gate: the cancel arrives while that batch is being written.
    settings.IMPORT_WRITERS = 1
    settings.IMPORT_BATCH_ROWS = 20
    settings.IMPORT_BATCH_SECONDS = 0.05
    settings.JOB_CANCEL_GRACE_SECONDS = 10  # the importer stops by itself, the watchdog need not
    content = "\n".join(",".join(row) for row in [HEADER, *ROWS]).encode()
    response = client_for("operator").post(
        "/api/upload", {"file": SimpleUploadedFile("bulk.csv", content)}, format="multipart"
    )
    job_id = response.json()["job_id"]

    with insert_gate("BL-025") as gate:
        thread = run_in_thread(execute_job, job_id)
        assert wait_until(lambda: someone_waits_at_the_gate(gate), timeout=30)
        # The first batch committed (the job's stream stores its counters in the background).
        assert wait_until(
            lambda: Job.objects.get(pk=job_id).counters.get("processed_rows", 0) > 0, timeout=5
        )
        cancel_job(job_id)
        time.sleep(0.6)  # the job's watchdog polls the cancel flag every 0.2 s
        gate.execute("SELECT pg_advisory_unlock(%s)", [GATE_KEY])
        thread.join(30)
    assert not thread.is_alive()

    job = Job.objects.get(pk=job_id)
    assert (job.status, job.error) == (JobStatus.CANCELLED, "Cancelled by request.")
    counters = job.counters
    assert 0 < counters["processed_rows"] < len(ROWS)
    assert counters["success_count"] == counters["processed_rows"]
    assert counters["created"] == Product.objects.count()
    assert Product.objects.filter(sku="BL-025").exists()  # the batch in flight was counted
    lines = list(JobLogLine.objects.filter(job_id=job_id).values_list("line", flat=True))
    assert len(bulk_lines(lines)) == 1
    assert any(line.startswith("Stopping after ") for line in lines)
    # The cancel did not cut the rebuild short: every index but the deferred ones is back.
    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    assert invalid_indexes() == []
    assert set(SuspendedIndex.objects.values_list("name", flat=True)) == DEFERRED
    assert [j.kind for j in enqueued_jobs] == [CATALOG_IMPORT.name, RESTORE_INDEXES.name]
