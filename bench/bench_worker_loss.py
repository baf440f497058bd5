"""Worker-loss benchmark: a 500,000-row import whose worker process is killed half-way.

    python3 dev.py bench bench_worker_loss [--rows N]

Uses its own database (`bench_worker_loss`), a uvicorn server and a Celery worker (prefork,
one child). First the anchor: the same file imported without interruption, end to end through
the upload API (as bench_import does). Then the same import again into an empty catalog; once
it reports 50 % with the product indexes suspended (the bulk load's writing), its pool process
gets SIGKILL (what the OOM killer or a deploy's kill timeout does). Measured from the kill:
- until the job says what happened (its `interruptions`, the live stream's re-queue event);
- until every index of the product table is present and valid again;
- until the re-run has completed.
Correctness is asserted: the catalog equals the uninterrupted import's (count, sampled rows),
every index valid, the job took exactly two attempts.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

import httpx
from bench_import import (
    check_catalog,
    import_through_api,
    product_indexes,
    settle_database,
    truncate_products,
    wait_for_deferred_indexes,
)
from generate_catalog import generate
from support import bench_operator, machine_speed, setup_django

PASSWORD = "bench-worker-loss-Pass-1!"


def wait(predicate, timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll until `predicate()`; returns the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def killed_import(server, token: str, path: Path, indexes: dict) -> dict:
    from core.models import Job
    from product.models import SuspendedIndex

    settle_database()
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    with path.open("rb") as handle:
        response = httpx.post(
            f"{server.base_url}/api/upload",
            files={"file": (path.name, handle, "text/csv")},
            headers=headers,
            timeout=600,
        )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    def half_way_with_indexes_suspended() -> bool:
        row = Job.objects.filter(pk=job_id).values_list("status", "progress").first()
        return row[0] == "running" and row[1] >= 50 and SuspendedIndex.objects.exists()

    wait(half_way_with_indexes_suspended, 300, "the import never reached 50 % with indexes off")
    job = Job.objects.get(pk=job_id)
    killed_at = time.monotonic()
    os.kill(int(job.worker.rsplit(" pid ", 1)[1]), signal.SIGKILL)

    marked_at = wait(lambda: Job.objects.get(pk=job_id).interruptions, 60, "never marked")
    # Both watched in one loop: each is timed when it first holds, whichever comes first.
    seen: dict[str, float] = {}

    def both_seen() -> bool:
        now = time.monotonic()
        if "valid" not in seen and product_indexes() == indexes:
            seen["valid"] = now
        if "ended" not in seen and Job.objects.get(pk=job_id).status in ("completed", "failed"):
            seen["ended"] = now
        return len(seen) == 2

    wait(both_seen, 600, "the re-run or the index rebuild never finished", 0.05)
    valid_at, completed_at = seen["valid"], seen["ended"]
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.error
    assert job.attempts == 2, job.interruptions
    return {
        "job": job,
        "killed_after_s": killed_at - started,
        "killed_at_progress": job.interruptions[0],
        "marked_s": marked_at - killed_at,
        "indexes_valid_s": valid_at - killed_at,
        "completed_s": completed_at - killed_at,
        "total_s": completed_at - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()

    setup_django("bench_worker_loss")
    from django.conf import settings

    from core.models import Job
    from devtools.stack import access_token, child_env, start_asgi, start_worker
    from product.jobs import RESTORE_INDEXES
    from product.services.catalog_indexes import restore_indexes_when_free

    user = bench_operator("bench-worker-loss@example.com", PASSWORD)
    work = Path(tempfile.mkdtemp(prefix="bench-worker-loss-"))
    catalog = work / "catalog.csv"
    expected = generate(catalog, args.rows, repeat=0.1)
    print(machine_speed(), flush=True)
    print(f"file: {args.rows:,} rows, {catalog.stat().st_size / 1e6:.1f} MB", flush=True)

    env = child_env()
    env["PLATFORM_DATA_DIR"] = str(work / "data")
    settings.DATA_DIR = work / "data"
    worker = start_worker(env, work / "worker.log", concurrency=1)
    server = start_asgi(env, work / "asgi.log")
    restore_indexes_when_free()  # whatever an interrupted earlier run left suspended
    Job.objects.filter(kind=RESTORE_INDEXES.name, status__in=["pending", "running"]).delete()
    indexes = product_indexes()
    try:
        token = access_token(server.base_url, user.email, PASSWORD)
        truncate_products()
        anchor = import_through_api(server, worker, token, catalog)
        check_catalog(expected)
        deferred = wait_for_deferred_indexes(anchor["job"], indexes) or 0.0
        anchor_to_valid = anchor["total_s"] + deferred
        print(
            f"uninterrupted import (anchor): {anchor['total_s']:.2f} s end to end, "
            f"indexes all valid {anchor_to_valid:.2f} s after the upload began",
            flush=True,
        )
        truncate_products()
        figures = killed_import(server, token, catalog, indexes)
        check_catalog(expected)
        interruption = figures["killed_at_progress"]
        print(
            f"killed at {figures['killed_after_s']:.2f} s (phase {interruption['phase']}):\n"
            f"  marked after {figures['marked_s']:.2f} s ({interruption['reason'][:60]}...,"
            f" {interruption['outcome']})\n"
            f"  indexes present and valid again after {figures['indexes_valid_s']:.2f} s\n"
            f"  re-run completed after {figures['completed_s']:.2f} s"
            f" ({figures['total_s']:.2f} s from the upload; "
            f"{figures['total_s'] / anchor['total_s']:.2f}x the uninterrupted import)",
            flush=True,
        )
    finally:
        server.stop()
        worker.stop()
    print(machine_speed(), flush=True)
    truncate_products()


if __name__ == "__main__":
    main()
