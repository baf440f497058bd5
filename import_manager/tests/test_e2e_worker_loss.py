"""An import whose worker process is killed mid-write ends whole: found at once, re-run, and
the catalog and its indexes end exactly as an uninterrupted import leaves them."""

import os
import shutil
import signal
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from bench.generate_catalog import generate
from core.models import Job, JobStatus
from core.testing.helpers import wait_until
from devtools.stack import child_env, start_worker
from import_manager.services.runs import start_file_import
from product.jobs import RESTORE_INDEXES
from product.models import SuspendedIndex
from product.testing.indexes import invalid_indexes, product_indexes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = 200_000


def catalog_state() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(sku), sku, name, price FROM product_product")
        return {key: (sku, name, price) for key, sku, name, price in cursor.fetchall()}


def restores_done() -> bool:
    return (
        not SuspendedIndex.objects.exists()
        and not Job.objects.filter(
            kind=RESTORE_INDEXES.name, status__in=[JobStatus.PENDING, JobStatus.RUNNING]
        ).exists()
    )


@pytest.fixture
def folder():
    path = settings.DATA_DIR / "uploads" / f"worker-loss-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_an_import_killed_while_writing_with_indexes_suspended_converges(
    celery_worker_process, make_user, folder
):
    indexes_before = product_indexes()
    assert len(indexes_before) == 12 and not invalid_indexes()
    path = folder / "catalog.csv"
    expected = generate(path, ROWS)  # what an uninterrupted import leaves: last row wins
    job = start_file_import(
        path, filename="catalog.csv", file_format="csv", owner=make_user("operator")
    )

    def writing_with_indexes_suspended():
        row = Job.objects.filter(pk=job.pk).values_list("status", "phase").first()
        return row == (JobStatus.RUNNING, "writing") and SuspendedIndex.objects.exists()

    assert wait_until(writing_with_indexes_suspended, timeout=120, interval=0.02), Job.objects.get(
        pk=job.pk
    ).phase
    victim = Job.objects.get(pk=job.pk)
    killed_at = time.monotonic()
    os.kill(int(victim.worker.rsplit(" pid ", 1)[1]), signal.SIGKILL)

    assert wait_until(lambda: Job.objects.get(pk=job.pk).interruptions, timeout=30, interval=0.05)
    marked_after = time.monotonic() - killed_at
    assert marked_after < 10
    interruption = Job.objects.get(pk=job.pk).interruptions[0]
    assert (interruption["phase"], interruption["outcome"]) == ("writing", "re-queued")

    assert wait_until(
        lambda: Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED, timeout=180
    ), Job.objects.get(pk=job.pk).error
    assert wait_until(restores_done, timeout=180)

    finished = Job.objects.get(pk=job.pk)
    assert finished.attempts == 2
    assert catalog_state() == {
        key: (sku, name, Decimal(price)) for key, (sku, name, price) in expected.items()
    }
    assert product_indexes() == indexes_before
    assert invalid_indexes() == []
    assert finished.result["processed_rows"] == ROWS
    assert finished.result["error_count"] == 0


def test_sigterm_to_the_worker_requeues_the_import_at_a_batch_boundary_and_it_completes(
    celery_worker_process, make_user, folder, tmp_path
):
    """As a deploy does (Heroku: SIGTERM to every process of the dyno, SIGKILL 30 s later)."""
    queue = f"imports-{os.getpid()}"
    workers = [
        start_worker(child_env(), tmp_path / f"worker{n}.log", queues=queue) for n in range(2)
    ]
    try:
        indexes_before = product_indexes()
        path = folder / "catalog.csv"
        expected = generate(path, ROWS, seed=7)
        job = start_file_import(
            path,
            filename="catalog.csv",
            file_format="csv",
            owner=make_user("operator"),
            queue=queue,
        )
        assert wait_until(
            lambda: Job.objects.filter(pk=job.pk, phase="writing").exists(),
            timeout=120,
            interval=0.02,
        )
        worker = Job.objects.get(pk=job.pk).worker
        (victim,) = [w for w in workers if worker.startswith(f"{w.node} ")]
        terminated_at = time.monotonic()
        os.killpg(victim.pid, signal.SIGTERM)

        assert wait_until(lambda: Job.objects.get(pk=job.pk).interruptions, timeout=30)
        assert time.monotonic() - terminated_at < 10
        interruption = Job.objects.get(pk=job.pk).interruptions[0]
        assert interruption["stopped_cleanly"] is True, interruption
        victim.proc.wait(30)  # out before a platform's kill timeout
        assert wait_until(
            lambda: Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED, timeout=180
        ), Job.objects.get(pk=job.pk).error
        assert wait_until(restores_done, timeout=180)
        assert catalog_state() == {
            key: (sku, name, Decimal(price)) for key, (sku, name, price) in expected.items()
        }
        assert product_indexes() == indexes_before
        assert invalid_indexes() == []
    finally:
        for worker in workers:
            worker.stop()
