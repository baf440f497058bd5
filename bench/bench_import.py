"""Catalog import benchmark: 500,000 rows end to end through the upload API and a real worker.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/bench_import.py [--rows N] [--runs N]
    (or: python3 dev.py bench bench_import)

Uses its own database (`bench_import`), a uvicorn server and a Celery worker (prefork, one
child) of its own. For each run:
1. fresh import into an empty catalog: a ~100 MB CSV with ~10% repeated SKUs in mixed case,
   uploaded with httpx (streamed multipart, JWT), imported by the worker; reports the upload
   time, the job time, end-to-end rows/s, the worker tree's peak RSS (psutil, sampled every
   20 ms) and the longest silence of the live progress stream (WebSocket subscriber);
2. re-import of the same file (every row matches: nothing is rewritten);
3. re-import with every price changed (every product really updated; as that rewrites the
   whole catalog, its indexes are suspended and rebuilt too).
Each import starts from a quiet server (CHECKPOINT, no autovacuum worker running); after the
fresh import the run waits for the deferred description index (see product/README.md) and
reports how long its job took.
Then django-import-export imports a 20,000-row sample into an empty catalog (its default
row-by-row mode, as its admin does) and the speed ratio is printed.
Correctness is asserted: product count, sampled rows (last row of a SKU wins, its spelling).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import websockets
from generate_catalog import generate
from support import bench_operator, machine_speed, setup_django

PASSWORD = "bench-import-Pass-1!"


class TreeMemory:
    """Samples the RSS of a process and its children; `peak` in bytes."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        # Listing children scans all of /proc (~6 ms): done once a second, not per sample,
        # or the sampler itself would take a quarter of a core from what it measures.
        tree, listed = [], 0.0
        while not self._stop.is_set():
            if time.monotonic() - listed >= 1.0:
                tree, listed = [self.root, *self.root.children(recursive=True)], time.monotonic()
            total = 0
            for proc in tree:
                with contextlib.suppress(psutil.Error):  # a child may just have exited
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(self.interval)


class ProgressWatcher:
    """Subscribes to a job on /ws/jobs/ and records when each job_progress arrives."""

    def __init__(self, ws_url: str, token: str, job_id: str):
        self.url = f"{ws_url}/ws/jobs/?token={token}"
        self.job_id = job_id
        self.times: list[float] = []
        self.phases: list[str] = []
        self.final = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self):
        async with websockets.connect(self.url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "subscribe_job", "job_id": self.job_id}))
            async for raw in ws:
                event = json.loads(raw)
                if event["type"] == "job_progress":
                    self.times.append(time.monotonic())
                    self.phases.append(f"{event.get('phase')} {event.get('progress')}%")
                elif event["type"] in ("job_completed", "job_failed"):
                    self.final = event
                    return

    def max_gap(self) -> tuple[float, str]:
        """The longest silence between two progress events, and the event that ended it."""
        self._thread.join(30)
        pairs = zip(self.times, self.times[1:], strict=False)
        gaps = [(b - a, i + 1) for i, (a, b) in enumerate(pairs)]
        gap, index = max(gaps, default=(0.0, None))
        return gap, (self.phases[index] if index is not None else "")


def settle_database(timeout: float = 120.0) -> None:
    """Start each measured import from a quiet server: the previous import's dirty pages
    written out (CHECKPOINT) and no autovacuum worker busy with its dead rows, so that one run
    does not pay for the one before it."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        with contextlib.suppress(DatabaseError):  # needs superuser or pg_checkpoint
            cursor.execute("CHECKPOINT")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            )
            if not cursor.fetchone()[0]:
                return
            time.sleep(0.2)


def import_through_api(server, worker, token: str, path: Path) -> dict:
    from core.models import Job
    from core.models.job import TERMINAL_STATUSES

    settle_database()

    headers = {"Authorization": f"Bearer {token}"}
    with TreeMemory(worker.proc.pid) as memory:
        started = time.monotonic()
        with path.open("rb") as handle:
            response = httpx.post(
                f"{server.base_url}/api/upload",
                files={"file": (path.name, handle, "text/csv")},
                headers=headers,
                timeout=600,
            )
        uploaded = time.monotonic()
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        watcher = ProgressWatcher(server.ws_url, token, job_id)
        while Job.objects.filter(pk=job_id).exclude(status__in=TERMINAL_STATUSES).exists():
            time.sleep(0.02)
        finished = time.monotonic()
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.error
    result = job.result
    return {
        "job": job,
        "result": result,
        "upload_s": uploaded - started,
        "job_s": job.duration_seconds,
        "total_s": finished - started,
        "peak_mb": memory.peak / 1024 / 1024,
        **dict(zip(("progress_gap_s", "progress_gap_before"), watcher.max_gap(), strict=True)),
        "progress_events": len(watcher.times),
    }


def check_catalog(expected: dict, samples: int = 25) -> None:
    from product.models import Product

    assert Product.objects.count() == len(expected), (Product.objects.count(), len(expected))
    rng = random.Random(7)
    for key in rng.sample(sorted(expected), samples):
        sku, name, price = expected[key]
        product = Product.objects.get(sku__iexact=key)
        assert (product.sku, product.name, str(product.price)) == (
            sku,
            name,
            f"{float(price):.2f}",
        ), (product.sku, product.name, product.price, expected[key])


def product_indexes() -> dict[str, bool]:
    """{index name: is valid} of the product table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid ="
            " x.indexrelid WHERE x.indrelid = 'product_product'::regclass"
        )
        return dict(cursor.fetchall())


def wait_for_deferred_indexes(after_job, expected_indexes: dict) -> float | None:
    """Seconds the index restore job that followed `after_job` ran (None: there was none);
    asserts the product table then has every index it had before, all valid."""
    from core.models import Job
    from core.models.job import TERMINAL_STATUSES
    from product.jobs import RESTORE_INDEXES
    from product.models import SuspendedIndex

    deadline = time.monotonic() + 300
    while SuspendedIndex.objects.exists():
        assert time.monotonic() < deadline, "the deferred indexes were not built in 5 minutes"
        time.sleep(0.05)
    restores = Job.objects.filter(kind=RESTORE_INDEXES.name, created_at__gte=after_job.created_at)
    while restores.exclude(status__in=TERMINAL_STATUSES).exists():
        time.sleep(0.05)
    job = restores.order_by("-created_at").first()
    assert job is None or job.status == "completed", job.error
    assert product_indexes() == expected_indexes, (product_indexes(), expected_indexes)
    return job.duration_seconds if job else None


def truncate_products() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE product_product")


def report(label: str, rows: int, figures: dict) -> None:
    result = figures["result"]
    print(
        f"  {label:<22} {figures['total_s']:6.2f} s end to end = {rows / figures['total_s']:>8,.0f}"
        f" rows/s (upload {figures['upload_s']:.2f} s, job {figures['job_s']:.2f} s); "
        f"worker peak {figures['peak_mb']:.0f} MB; progress every <= "
        f"{figures['progress_gap_s']:.2f} s (before {figures['progress_gap_before']}; "
        f"{figures['progress_events']} events); "
        f"created {result['created']}, updated {result['updated']}, "
        f"unchanged {result['unchanged']}, rejected {result['error_count']}",
        flush=True,
    )


def django_import_export_rate(path: Path) -> tuple[float, int]:
    """Rows/s of django-import-export importing `path` (CSV) into an empty catalog."""
    import tablib
    from import_export import resources

    from product.models import Product

    class ProductResource(resources.ModelResource):
        class Meta:
            model = Product
            import_id_fields = ("sku",)
            fields = ("sku", "name", "description", "price", "is_active", "category")
            fields += ("stock_quantity",)

    truncate_products()
    dataset = tablib.Dataset().load(path.read_text(encoding="utf-8"), format="csv")
    started = time.monotonic()
    result = ProductResource().import_data(dataset, dry_run=False, raise_errors=True)
    seconds = time.monotonic() - started
    assert not result.has_errors()
    assert Product.objects.count() == len(dataset)
    return len(dataset) / seconds, len(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat the three imports")
    parser.add_argument("--sample-rows", type=int, default=20_000)
    args = parser.parse_args()

    setup_django("bench_import")
    from django.conf import settings

    from devtools.stack import access_token, child_env, start_asgi, start_worker

    user = bench_operator("bench-import@example.com", PASSWORD)

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    data_dir = work / "data"
    catalog = work / "catalog.csv"
    changed = work / "catalog-changed.csv"
    sample = work / "sample.csv"
    started = time.monotonic()
    expected = generate(catalog, args.rows, repeat=0.1)
    expected_changed = generate(changed, args.rows, repeat=0.1, price_shift=7)
    generate(sample, args.sample_rows, repeat=0.0, seed=11)
    size_mb = catalog.stat().st_size / 1e6
    print(machine_speed(), flush=True)
    print(
        f"files: {args.rows:,} rows, {size_mb:.1f} MB, {len(expected):,} distinct SKUs "
        f"({args.rows - len(expected):,} repeats in mixed case); generated in "
        f"{time.monotonic() - started:.1f} s",
        flush=True,
    )

    env = child_env()
    env["PLATFORM_DATA_DIR"] = str(data_dir)
    settings.DATA_DIR = data_dir
    worker = start_worker(env, work / "worker.log", concurrency=1)
    server = start_asgi(env, work / "asgi.log")
    fresh, same, modified, deferred = [], [], [], []
    from core.models import Job
    from product.jobs import RESTORE_INDEXES
    from product.services.catalog_indexes import restore_indexes_when_free

    restore_indexes_when_free()  # whatever an interrupted earlier run left suspended
    # ...and the restore jobs it queued on a broker that is gone, or whose worker it
    # stopped mid-build: this database is the benchmark's, no other worker runs them.
    Job.objects.filter(kind=RESTORE_INDEXES.name, status__in=["pending", "running"]).delete()
    indexes = product_indexes()
    try:
        token = access_token(server.base_url, user.email, PASSWORD)
        for run in range(1, args.runs + 1):
            print(f"run {run}:", flush=True)
            truncate_products()
            figures = import_through_api(server, worker, token, catalog)
            check_catalog(expected)
            assert figures["result"]["created"] == len(expected)
            report("fresh import", args.rows, figures)
            fresh.append(figures)
            seconds = wait_for_deferred_indexes(figures["job"], indexes)
            if seconds is not None:
                deferred.append(seconds)
                print(f"  then the deferred indexes, built concurrently: {seconds:.2f} s")

            figures = import_through_api(server, worker, token, catalog)
            check_catalog(expected)
            assert figures["result"]["created"] == 0
            report("same file again", args.rows, figures)
            same.append(figures)
            assert wait_for_deferred_indexes(figures["job"], indexes) is None  # none dropped

            figures = import_through_api(server, worker, token, changed)
            check_catalog(expected_changed)
            assert figures["result"]["created"] == 0
            assert figures["result"]["updated"] >= len(expected)
            report("every price changed", args.rows, figures)
            modified.append(figures)
            # The next run's fresh import must not meet this import's restore job.
            seconds = wait_for_deferred_indexes(figures["job"], indexes)
            if seconds is not None:
                print(f"  then the deferred indexes, built concurrently: {seconds:.2f} s")
    finally:
        server.stop()
        worker.stop()

    def spread(label: str, runs: list) -> float:
        totals = [r["total_s"] for r in runs]
        best = min(totals)
        print(
            f"{label:<22} best {best:.2f} s = {args.rows / best:,.0f} rows/s"
            f" (runs: {', '.join(f'{t:.2f}' for t in totals)} s;"
            f" median {statistics.median(totals):.2f} s);"
            f" worker peak {max(r['peak_mb'] for r in runs):.0f} MB",
            flush=True,
        )
        return args.rows / best

    print("summary:")
    best_rate = spread("fresh import", fresh)
    if deferred:
        print(
            f"deferred indexes after a fresh import: median {statistics.median(deferred):.2f} s"
            f" (runs: {', '.join(f'{t:.2f}' for t in deferred)} s)"
        )
    spread("same file again", same)
    spread("every price changed", modified)
    rate, rows = django_import_export_rate(sample)
    print(
        f"django-import-export: {rows:,} rows at {rate:,.0f} rows/s; "
        f"fresh import here is {best_rate / rate:,.0f}x faster",
        flush=True,
    )
    print(machine_speed(), flush=True)
    truncate_products()


if __name__ == "__main__":
    main()
