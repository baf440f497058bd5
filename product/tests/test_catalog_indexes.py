"""Suspending the product table's secondary indexes for a bulk load and building them again,
checked against what PostgreSQL itself reports (pg_indexes, pg_index, pg_locks)."""

import contextlib
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus
from core.services.jobs import execute_job
from core.testing.helpers import run_in_thread
from product.jobs import BULK_PRICE_UPDATE, RESTORE_INDEXES
from product.models import Product, SuspendedIndex
from product.services.catalog_indexes import (
    DEFERRED_INDEXES,
    INDEX_LOCK_KEY,
    bulk_load,
    restore_indexes_when_free,
    restore_suspended_indexes,
    start_restore_job_if_needed,
    suspend_secondary_indexes,
)
from product.testing.indexes import (
    DEFERRED,
    DESCRIPTION,
    index_oid,
    invalid_indexes,
    kept_indexes,
    other_session,
    product_indexes,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("indexes_before")]

LOCK_BUSY = "Another bulk load or index restore is running: indexes are maintained as usual."


@pytest.fixture
def min_rows(settings):
    settings.PRODUCT_BULK_LOAD_MIN_ROWS = 100
    return 100


def add_products(count: int, prefix: str = "P") -> None:
    Product.objects.bulk_create(
        Product(
            sku=f"{prefix}-{i}",
            name=f"Lamp {i}",
            description=f"A brass lamp, model {i}",
            price=Decimal(i % 50 + 1),
            category="lights" if i % 2 else "chairs",
        )
        for i in range(count)
    )


def holds_index_lock(session) -> bool:
    """Whether `session` (a psycopg connection) holds any advisory lock."""
    return bool(
        session.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ).fetchone()[0]
    )


def index_lock_is_free() -> bool:
    with other_session() as other:
        taken = other.execute("SELECT pg_try_advisory_lock(%s)", [INDEX_LOCK_KEY]).fetchone()[0]
        if taken:
            other.execute("SELECT pg_advisory_unlock(%s)", [INDEX_LOCK_KEY])
        return taken


# -- suspend / restore -----------------------------------------------------------------------


def test_suspend_then_restore_leaves_the_same_indexes_with_the_same_definitions(indexes_before):
    add_products(200)
    kept = kept_indexes()

    dropped = suspend_secondary_indexes()

    assert set(dropped) == set(indexes_before) - kept
    assert set(product_indexes()) == kept
    built = restore_suspended_indexes(include_deferred=True)
    assert sorted(built) == sorted(dropped)
    assert product_indexes() == indexes_before
    assert invalid_indexes() == []
    assert not SuspendedIndex.objects.exists()


def test_suspend_records_every_dropped_index_and_defers_only_the_description_trigram(
    indexes_before,
):
    dropped = suspend_secondary_indexes()

    records = {r.name: (r.definition, r.deferred) for r in SuspendedIndex.objects.all()}
    assert records == {name: (indexes_before[name], name in DEFERRED) for name in dropped}
    assert {"product_name_trgm", "product_price", *DEFERRED} <= set(records)
    assert DEFERRED == DEFERRED_INDEXES


def test_unique_and_primary_indexes_are_never_suspended_so_duplicate_skus_still_fail():
    suspend_secondary_indexes()

    assert {"product_product_pkey", "product_sku_ci_unique"} <= set(product_indexes())
    assert not SuspendedIndex.objects.filter(name__in=kept_indexes()).exists()
    Product.objects.create(sku="Lamp-1", name="Lamp", price=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(sku="LAMP-1", name="Another lamp", price=Decimal("2.00"))
    assert list(Product.objects.values_list("sku", flat=True)) == ["Lamp-1"]


def test_restore_without_the_deferred_indexes_builds_the_rest_and_keeps_their_record(
    indexes_before,
):
    suspend_secondary_indexes()

    built = restore_suspended_indexes(include_deferred=False)

    assert not DEFERRED & set(built)
    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    assert set(SuspendedIndex.objects.values_list("name", "deferred")) == {
        (n, True) for n in DEFERRED
    }


def test_restore_only_drops_the_record_of_an_index_that_already_exists(indexes_before):
    SuspendedIndex.objects.create(name="product_price", definition=indexes_before["product_price"])
    oid = index_oid("product_price")
    lines = []

    built = restore_suspended_indexes(log=lines.append)

    assert built == []  # nothing was built: the index was already there
    assert lines == []
    assert index_oid("product_price") == oid  # the very same index, not a rebuilt one
    assert not SuspendedIndex.objects.exists()
    assert product_indexes() == indexes_before


def test_restore_replaces_an_invalid_leftover_index_with_a_valid_one(indexes_before):
    SuspendedIndex.objects.create(name="product_price", definition=indexes_before["product_price"])
    # What a failed CREATE INDEX CONCURRENTLY leaves behind (the test role is a superuser).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'product_price'::regclass"
        )
    assert invalid_indexes() == ["product_price"]
    oid = index_oid("product_price")
    lines = []

    built = restore_suspended_indexes(log=lines.append)

    assert built == ["product_price"]
    assert lines == ["Built index product_price."]
    assert index_oid("product_price") != oid
    assert invalid_indexes() == []
    assert product_indexes() == indexes_before
    assert not SuspendedIndex.objects.exists()


# -- bulk_load: when it suspends and when it does not ---------------------------------------


def test_bulk_load_below_the_minimum_rows_keeps_every_index(indexes_before, min_rows):
    lines = []
    with bulk_load(min_rows - 1, log=lines.append) as suspended:
        assert suspended is False
        assert product_indexes() == indexes_before

    assert lines == []
    assert not SuspendedIndex.objects.exists()
    assert not Job.objects.exists()
    assert index_lock_is_free()


def test_bulk_load_writing_less_than_half_the_catalog_keeps_every_index(indexes_before, min_rows):
    add_products(300)

    with bulk_load(149) as suspended:
        assert suspended is False
        assert product_indexes() == indexes_before
    assert not SuspendedIndex.objects.exists()
    # Half the catalog is worth it (the boundary, PRODUCT_BULK_LOAD_MIN_SHARE).
    with bulk_load(150) as suspended:
        assert suspended is True
        assert set(product_indexes()) == kept_indexes()


def test_bulk_load_while_another_session_holds_the_index_lock_keeps_every_index(
    indexes_before, min_rows
):
    lines = []
    with other_session() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [INDEX_LOCK_KEY])

        with bulk_load(min_rows, log=lines.append) as suspended:
            assert suspended is False
            assert product_indexes() == indexes_before

        assert holds_index_lock(other)  # the other session's lock was left alone
    assert lines == [LOCK_BUSY]
    assert not SuspendedIndex.objects.exists()
    assert not Job.objects.exists()


def test_bulk_load_suspends_inside_the_block_and_rebuilds_all_but_the_deferred_indexes_shielded(
    indexes_before, min_rows, django_capture_on_commit_callbacks, enqueued_jobs
):
    kept = kept_indexes()
    secondary = len(indexes_before) - len(kept)
    depth = [0]
    lines = []

    @contextlib.contextmanager
    def shield():
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1

    def log(line):
        lines.append((line, depth[0]))

    with (
        django_capture_on_commit_callbacks(execute=True),
        bulk_load(min_rows, log=log, shield=shield) as suspended,
    ):
        assert suspended is True
        assert set(product_indexes()) == kept
        assert not index_lock_is_free()
        add_products(min_rows)

    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    assert invalid_indexes() == []
    assert set(SuspendedIndex.objects.values_list("name", "deferred")) == {
        (n, True) for n in DEFERRED
    }
    assert Product.objects.count() == min_rows
    assert lines[0] == (
        f"Bulk load: {secondary} indexes dropped, to be built again after writing.",
        0,
    )
    builds = [(line, at) for line, at in lines if line.startswith("Built index ")]
    assert len(builds) == secondary - len(DEFERRED)
    assert all(at == 1 for _, at in builds)  # every rebuild ran inside the shield
    assert lines[-1][0].startswith(f"Rebuilt {secondary - len(DEFERRED)} indexes in ")
    assert lines[-1][1] == 0
    job = Job.objects.get()
    assert (job.kind, job.status) == (RESTORE_INDEXES.name, JobStatus.PENDING)
    assert enqueued_jobs == [job]
    assert index_lock_is_free()


def test_bulk_load_rebuilds_the_indexes_when_the_load_fails(indexes_before, min_rows):
    with pytest.raises(RuntimeError, match="disk on fire"), bulk_load(min_rows) as suspended:
        assert suspended is True
        raise RuntimeError("disk on fire")

    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    assert invalid_indexes() == []
    assert set(SuspendedIndex.objects.values_list("name", flat=True)) == DEFERRED
    assert Job.objects.get().kind == RESTORE_INDEXES.name
    assert index_lock_is_free()


@pytest.mark.django_db(transaction=True)
def test_a_second_bulk_load_meanwhile_maintains_the_indexes_as_usual(indexes_before, min_rows):
    second = {}

    def load_too():
        lines = []
        with bulk_load(min_rows, log=lines.append) as suspended:
            second["suspended"] = suspended
        second["lines"] = lines

    with bulk_load(min_rows) as first:
        assert first is True
        thread = run_in_thread(load_too)
        thread.join(30)

    assert second == {"suspended": False, "lines": [LOCK_BUSY]}
    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    assert index_lock_is_free()


# -- restoring outside a transaction ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_restore_rebuilds_every_index_outside_a_transaction(indexes_before):
    add_products(200)
    dropped = suspend_secondary_indexes()
    lines = []

    built = restore_suspended_indexes(concurrently=True, log=lines.append)

    assert sorted(built) == sorted(dropped)
    assert sorted(lines) == sorted(f"Built index {name}." for name in dropped)
    assert product_indexes() == indexes_before
    assert invalid_indexes() == []
    assert not SuspendedIndex.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_restore_on_several_connections_builds_every_index_in_builder_threads(indexes_before):
    add_products(200)
    dropped = suspend_secondary_indexes()
    builders = []

    built = restore_suspended_indexes(
        connections=3, log=lambda line: builders.append(threading.current_thread())
    )

    assert sorted(built) == sorted(dropped)
    assert len(builders) == len(dropped)
    assert threading.current_thread() not in builders
    assert product_indexes() == indexes_before
    assert invalid_indexes() == []
    assert not SuspendedIndex.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_restore_when_free_waits_for_the_index_lock_then_builds_everything(indexes_before):
    dropped = suspend_secondary_indexes()
    kept = kept_indexes()
    outcome = {}

    with other_session() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [INDEX_LOCK_KEY])
        thread = run_in_thread(lambda: outcome.update(built=restore_indexes_when_free()))
        time.sleep(0.5)
        # A bulk load holds the lock: the restore waits and builds nothing yet.
        assert thread.is_alive()
        assert set(product_indexes()) == kept
        assert SuspendedIndex.objects.count() == len(dropped)
        other.execute("SELECT pg_advisory_unlock(%s)", [INDEX_LOCK_KEY])
        thread.join(30)

    assert not thread.is_alive()
    assert sorted(outcome["built"]) == sorted(dropped)
    assert product_indexes() == indexes_before
    assert invalid_indexes() == []
    assert not SuspendedIndex.objects.exists()
    assert index_lock_is_free()


# -- the restore job -------------------------------------------------------------------------


def test_no_restore_job_is_started_when_no_index_is_suspended(enqueued_jobs):
    assert start_restore_job_if_needed() is None
    assert not Job.objects.exists()


def test_one_restore_job_is_started_for_suspended_indexes_and_no_second_while_it_is_active(
    indexes_before, django_capture_on_commit_callbacks, enqueued_jobs
):
    SuspendedIndex.objects.create(
        name=DESCRIPTION, definition=indexes_before[DESCRIPTION], deferred=True
    )

    with django_capture_on_commit_callbacks(execute=True):
        job = start_restore_job_if_needed()
        assert start_restore_job_if_needed() is None

    assert (job.kind, job.status, job.queue) == (RESTORE_INDEXES.name, JobStatus.PENDING, "default")
    assert list(Job.objects.all()) == [job]
    assert enqueued_jobs == [job]
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    assert start_restore_job_if_needed() is None
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
    again = start_restore_job_if_needed()
    assert again is not None and again.pk != job.pk


def test_a_restore_job_pending_longer_than_the_beat_interval_does_not_block_a_new_one(
    indexes_before, settings, enqueued_jobs
):
    # Its broker message was most likely lost (a restarted broker): it may never run.
    SuspendedIndex.objects.create(
        name=DESCRIPTION, definition=indexes_before[DESCRIPTION], deferred=True
    )
    stuck = Job.objects.create(kind=RESTORE_INDEXES.name)
    queued_at = timezone.now() - timedelta(seconds=settings.PRODUCT_INDEX_RESTORE_INTERVAL_SECONDS)
    Job.objects.filter(pk=stuck.pk).update(created_at=queued_at - timedelta(seconds=1))

    job = start_restore_job_if_needed()

    assert job is not None and job.pk != stuck.pk


def test_a_running_restore_job_whose_worker_died_does_not_block_a_new_one(
    indexes_before, settings, enqueued_jobs
):
    # Its heartbeat stopped: housekeeping will mark it failed, but nothing builds the
    # indexes meanwhile.
    SuspendedIndex.objects.create(
        name=DESCRIPTION, definition=indexes_before[DESCRIPTION], deferred=True
    )
    silent_since = timezone.now() - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 1)
    dead = Job.objects.create(
        kind=RESTORE_INDEXES.name, status=JobStatus.RUNNING, heartbeat_at=silent_since
    )

    job = start_restore_job_if_needed()

    assert job is not None and job.pk != dead.pk


@pytest.mark.django_db(transaction=True)
def test_restore_job_builds_the_deferred_indexes_and_reports_them(
    indexes_before, min_rows, enqueued_jobs
):
    with bulk_load(min_rows) as suspended:
        assert suspended is True
        add_products(min_rows)
    assert not DEFERRED & set(product_indexes())
    [job] = enqueued_jobs
    assert job.kind == RESTORE_INDEXES.name

    finished = execute_job(job.pk)

    assert finished.status == JobStatus.COMPLETED, finished.error
    assert sorted(finished.result["built"]) == sorted(DEFERRED)
    assert product_indexes() == indexes_before
    assert invalid_indexes() == []
    assert not SuspendedIndex.objects.exists()
    lines = list(JobLogLine.objects.filter(job=job).values_list("line", flat=True))
    assert {f"Built index {name}." for name in DEFERRED} <= set(lines)
    assert f"built {len(DEFERRED)} indexes" in lines


@pytest.mark.django_db(transaction=True)
def test_restore_job_with_nothing_left_to_build_succeeds_and_says_so(indexes_before):
    job = Job.objects.create(kind=RESTORE_INDEXES.name)

    finished = execute_job(job.pk)

    assert finished.status == JobStatus.COMPLETED, finished.error
    assert finished.result == {"built": []}
    lines = list(JobLogLine.objects.filter(job=job).values_list("line", flat=True))
    assert "no index was left to build" in lines
    assert product_indexes() == indexes_before


@pytest.mark.django_db(transaction=True)
def test_price_job_changing_half_the_catalog_rebuilds_the_indexes_instead_of_maintaining(
    indexes_before, min_rows, enqueued_jobs
):
    add_products(2 * min_rows)  # half "lights", half "chairs"
    change = {"mode": "set", "value": "3.00", "ending": None, "filters": {"category": "lights"}}

    first = execute_job(Job.objects.create(kind=BULK_PRICE_UPDATE.name, params=change).pk)

    assert first.status == JobStatus.COMPLETED, first.error
    assert first.result == {"updated": min_rows}
    lines = list(JobLogLine.objects.filter(job=first).values_list("line", flat=True))
    assert any(line.startswith("Bulk load: ") for line in lines)
    assert product_indexes() == {n: d for n, d in indexes_before.items() if n not in DEFERRED}
    lights = Product.objects.filter(category="lights")
    assert set(lights.values_list("price", flat=True)) == {Decimal("3.00")}
    assert [job.kind for job in enqueued_jobs] == [RESTORE_INDEXES.name]
    restore_suspended_indexes()

    # The same change again changes nothing: no reason to touch an index.
    second = execute_job(Job.objects.create(kind=BULK_PRICE_UPDATE.name, params=change).pk)

    assert second.result == {"updated": 0}
    lines = list(JobLogLine.objects.filter(job=second).values_list("line", flat=True))
    assert not any(line.startswith("Bulk load: ") for line in lines)
    assert product_indexes() == indexes_before
