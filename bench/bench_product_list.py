"""Benchmark of the product list API at catalog scale (a script, not a test).

    python3 dev.py bench bench_product_list [--rows 500000] [--requests 200] [--keep]
    (or inside the venv with DATABASE_URL / REDIS_URL set; it uses the database
    `bench_product` on that server, or BENCH_PRODUCT_DATABASE)

1. Loads `--rows` synthetic products with COPY (secondary indexes are dropped during the
   load and rebuilt afterwards, then VACUUM ANALYZE), unless `--keep` finds them loaded.
2. Sends `--requests` GET /api/products/?<filter> requests per scenario through Django's
   test client (the whole stack: middleware, auth, DRF, filters, pagination, JSON), with the
   filter value rotating over several values, and reports p50/p95/max.
3. Checks each answer against a direct ORM query written independently (Django's own
   `icontains`/`iexact`): the same `count` and the same ids on page 1.
4. Prints the plan of each scenario's queries (is the index used?) and the dashboard time.

It REPLACES every product of the database it runs against, so it refuses a database whose
name does not contain "bench" unless given --force.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from decimal import Decimal

from support import machine_speed, setup_django

os.environ.setdefault("LOG_LEVEL", "WARNING")
# Its own database on the server DATABASE_URL names (created and migrated if missing).
setup_django(os.environ.get("BENCH_PRODUCT_DATABASE", "bench_product"))

from django.db import connection, transaction  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.db.models.functions import Lower  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from core.models import User  # noqa: E402
from core.services.roles import ensure_role_groups, set_role  # noqa: E402
from product.columns import COLUMN_NAMES  # noqa: E402
from product.models import Product  # noqa: E402

TABLE = Product._meta.db_table
TARGET_P95_MS = 50.0


def words(text: str) -> list[str]:
    return text.split()


ADJECTIVES = words(
    "Classic Modern Rustic Vintage Sleek Compact Deluxe Premium Essential Urban Coastal "
    "Nordic Royal Bold Quiet Rapid Gentle Sturdy Elegant Smart Solar Arctic Golden Silver "
    "Crimson Azure Emerald Amber Ivory Onyx Velvet Misty Sunny Stormy Lunar Cosmic Alpine "
    "Prairie Tropical Desert"
)
MATERIALS = words(
    "Titanium Bamboo Leather Cotton Walnut Oak Steel Copper Ceramic Glass Linen Wool Silk "
    "Marble Granite Carbon Aluminium Brass Cork Hemp Denim Suede Rattan Teak Cedar "
    "Acrylic Nylon Felt Jute Slate"
)
NOUNS = words(
    "Lamp Chair Table Backpack Kettle Mug Blanket Pillow Jacket Boots Watch Wallet "
    "Speaker Headphones Bottle Planter Vase Clock Mirror Shelf Desk Stool Rug Basket "
    "Candle Knife Pan Bowl Plate Glassware Notebook Pen Umbrella Scarf Gloves Hat Belt "
    "Sunglasses Tent Hammock Bicycle Helmet Skateboard Kayak Drone Camera Tripod Keyboard "
    "Mouse Router"
)
WORDS = words(
    "durable handmade sustainable lightweight waterproof ergonomic timeless versatile "
    "everyday travel outdoor kitchen office garden studio weekend gift family comfort "
    "balanced refined textured polished brushed matte glossy natural recycled organic "
    "soft warm cool bright quiet powerful portable foldable stackable washable modular "
    "precise robust gentle classic iconic minimal spacious cozy practical reliable"
)
CATEGORIES = [f"Category {n:02d}" for n in range(50)]
CURRENCIES = ["USD", "EUR", "GBP"]
# The timestamps, then every product column (product.columns) in the contract's order.
COPY_COLUMNS = ("created_at", "updated_at", *COLUMN_NAMES)
COLUMNS = ", ".join(COPY_COLUMNS)


def bench_rows(count: int, seed: int = 42):
    """Deterministic synthetic catalog rows as COPY text lines."""
    rng = random.Random(seed)
    for number in range(count):
        # A model code that is rare as a substring: "ZQ" + 4 digits, ~50 rows per code.
        code = f"ZQ{rng.randrange(10_000):04d}"
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS)} {code}"
        description = " ".join(rng.choices(WORDS, k=rng.randrange(12, 30))).capitalize() + "."
        price = Decimal(rng.randrange(100, 200_000)) / 100
        compare = f"{price * Decimal('1.2'):.2f}" if rng.random() < 0.3 else r"\N"
        cost = f"{price * Decimal('0.6'):.2f}"
        attributes = f'{{"color": "{rng.choice(WORDS)}", "size": "{rng.choice("SMLX")}"}}'
        stamp = f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} 12:00:00+00"
        values = {
            "created_at": stamp,
            "updated_at": stamp,
            "sku": f"BENCH-{number:07d}",
            "name": name,
            "description": description,
            "price": f"{price:.2f}",
            "compare_at_price": compare,
            "cost": cost,
            "currency": rng.choice(CURRENCIES),
            "stock_quantity": str(rng.randrange(0, 500)),
            "is_active": "t" if rng.random() < 0.9 else "f",
            "category": rng.choice(CATEGORIES),
            "attributes": attributes,
            "image_urls": f"{{https://img.example.com/p/{number}.jpg}}",
        }
        yield "\t".join(values[name] for name in COPY_COLUMNS) + "\n"


def load(count: int) -> float:
    """Replace the catalog with `count` bench rows via COPY; returns seconds taken."""
    from product.services.catalog_indexes import (
        restore_suspended_indexes,
        suspend_secondary_indexes,
    )

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE} RESTART IDENTITY CASCADE")
    # Building the indexes once after the load is far faster than maintaining the trigram
    # GIN indexes row by row during it (the importer's bulk loads do the same).
    suspend_secondary_indexes()
    with connection.cursor() as cursor:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        with raw.copy(f"COPY {TABLE} ({COLUMNS}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for number, line in enumerate(bench_rows(count), 1):
                buffer.write(line)
                if number % 20_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
    loaded = time.perf_counter()
    print(f"  COPY of {count:,} rows: {loaded - started:.1f} s")
    restore_suspended_indexes(connections=2)
    print(f"  index rebuild: {time.perf_counter() - loaded:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return time.perf_counter() - started


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def reference_queryset(params: dict):
    """The expected result, written with Django's own lookups (not the API's filters)."""
    queryset = Product.objects.all()
    if "name" in params:
        queryset = queryset.filter(name__icontains=params["name"])
    if "description" in params:
        queryset = queryset.filter(description__icontains=params["description"])
    if "sku" in params:
        queryset = queryset.filter(sku__iexact=params["sku"])
    if "category" in params:
        queryset = queryset.filter(category=params["category"])
    if "is_active" in params:
        queryset = queryset.filter(is_active=params["is_active"] == "true")
    if "price_min" in params:
        queryset = queryset.filter(price__gte=Decimal(params["price_min"]))
    if "price_max" in params:
        queryset = queryset.filter(price__lte=Decimal(params["price_max"]))
    if "search" in params:
        for term in params["search"].split():
            queryset = queryset.filter(Q(sku__icontains=term) | Q(name__icontains=term))
    ordering = params.get("ordering")
    if ordering == "-price":
        queryset = queryset.order_by("-price", "-id")
    elif ordering == "name":
        queryset = queryset.order_by(Lower("name"), "id")
    else:
        queryset = queryset.order_by("id")
    return queryset


def scenarios(rows: int, rng: random.Random):
    """(label, list of param dicts to rotate over)."""
    skus = [f"bench-{rng.randrange(rows):07d}" for _ in range(20)]  # lower case on purpose
    return [
        ("unfiltered", [{}]),
        ("name=<material>", [{"name": m.lower()} for m in MATERIALS[:10]]),
        ("name=<noun>", [{"name": n[:5].lower()} for n in NOUNS[:10]]),
        ("name=<code> (rare)", [{"name": f"zq{n:04d}"} for n in range(0, 10_000, 500)]),
        (
            "name=<2 words>",
            [{"name": f"{m} {n}"} for m, n in zip(MATERIALS[:10], NOUNS[:10], strict=True)],
        ),
        ("description=<word> (~33%)", [{"description": w} for w in WORDS[:10]]),
        (
            "description=<2-word phrase>",
            [{"description": f"{a} {b}"} for a, b in zip(WORDS[:10], WORDS[10:20], strict=True)],
        ),
        ("sku=<exact, other case>", [{"sku": s} for s in skus]),
        ("category=<one of 50>", [{"category": c} for c in CATEGORIES[:10]]),
        ("is_active=true", [{"is_active": "true"}]),
        (
            "price_min&price_max",
            [{"price_min": str(p), "price_max": str(p + 20)} for p in range(100, 1100, 100)],
        ),
        (
            "search=<2 words>",
            [{"search": f"{m} {n}"} for m, n in zip(MATERIALS[:10], NOUNS[10:20], strict=True)],
        ),
        ("ordering=-price", [{"ordering": "-price"}]),
        ("name=<material>&ordering=name", [{"name": m, "ordering": "name"} for m in MATERIALS]),
    ]


def check(client, params) -> None:
    response = client.get("/api/products/", params)
    assert response.status_code == 200, (params, response.status_code, response.content[:300])
    body = response.json()
    expected = reference_queryset(params)
    expected_count = expected.count()
    expected_ids = list(expected.values_list("id", flat=True)[:50])
    got_ids = [item["id"] for item in body["results"]]
    assert body["count"] == expected_count, (params, body["count"], expected_count)
    assert got_ids == expected_ids, (params, got_ids[:5], expected_ids[:5])


def plan_summary(client, params) -> str:
    """The scan nodes of the SQL the request ran (from EXPLAIN of each captured query)."""
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/products/", params)
    nodes = []
    with transaction.atomic(), connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if "set_config(" in sql:
                cursor.execute(sql)  # replay the paginator's planner settings
                continue
            if TABLE not in sql or not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute(f"EXPLAIN {sql}")
            for (line,) in cursor.fetchall():
                for node in ("Index Only Scan", "Bitmap Index Scan", "Index Scan", "Seq Scan"):
                    if node in line:
                        text = line.strip().lstrip("-> ").split("  (")[0]
                        nodes.append(text.replace("Parallel ", "par. "))
                        break
    return "; ".join(dict.fromkeys(nodes))


def timed_get(client, path, params=None) -> float:
    started = time.perf_counter()
    response = client.get(path, params or {})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise AssertionError(f"{path} {params}: HTTP {response.status_code}")
    return elapsed


def measure(client, scenario_list, requests: int) -> dict[str, list[float]]:
    """Round-robin over the scenarios, so that a burst of load from other processes on the
    machine lands on all of them alike instead of spoiling one."""
    timings = {label: [] for label, _ in scenario_list}
    for number in range(requests):
        for label, param_list in scenario_list:
            params = param_list[number % len(param_list)]
            timings[label].append(timed_get(client, "/api/products/", params))
    return timings


def sql_breakdown(client, param_list) -> tuple[float, float]:
    """Median SQL time (ms) of the COUNT query and of the page query over the values."""
    count_ms, page_ms = [], []
    for params in param_list * 3:
        with CaptureQueriesContext(connection) as captured:
            client.get("/api/products/", params)
        for query in captured.captured_queries:
            if TABLE not in query["sql"]:
                continue
            target = count_ms if "COUNT(" in query["sql"] else page_ms
            target.append(float(query["time"]) * 1000)
    return (statistics.median(count_ms) if count_ms else 0.0, statistics.median(page_ms))


class Rollback(Exception):
    pass


def time_bulk_operations() -> list[tuple[str, float, int]]:
    """Time the set-based writes at full size, each in a transaction that is rolled back
    (the catalog is left as it was; a VACUUM afterwards removes the dead row versions)."""
    from product.services.bulk import bulk_update_prices, delete_all_products

    operations = [
        (
            "bulk price update, percent +10, all rows",
            lambda: bulk_update_prices(mode="percent", value=Decimal(10), every_product=True),
        ),
        (
            "bulk price update, set 9.99, one category",
            lambda: bulk_update_prices(
                mode="set", value=Decimal("9.99"), filters={"category": CATEGORIES[0]}
            ),
        ),
        ("delete all products (the job's statement)", delete_all_products),
    ]
    results = []
    for label, operation in operations:
        try:
            with transaction.atomic():
                started = time.perf_counter()
                rows = operation()
                results.append((label, (time.perf_counter() - started) * 1000, rows))
                raise Rollback
        except Rollback:
            pass
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return results


def time_bulk_price_job() -> tuple[float, int, float]:
    """Run the bulk price job (percent +10 on every product) for real, as a worker would:
    (seconds of the job, rows changed, seconds of the restore job that follows). The
    catalog keeps the new prices; the answers checked above do not depend on them."""
    from core.models import Job
    from core.services.jobs import execute_job
    from product.jobs import BULK_PRICE_UPDATE
    from product.services.catalog_indexes import restore_indexes_when_free

    params = {"mode": "percent", "value": "10", "ending": None, "filters": {}, "all": True}
    started = time.perf_counter()
    job = execute_job(Job.objects.create(kind=BULK_PRICE_UPDATE.name, params=params).pk)
    seconds = time.perf_counter() - started
    assert job.status == "completed", job.error
    started = time.perf_counter()
    restore_indexes_when_free()  # the deferred indexes, as the restore job builds them
    restore_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return seconds, job.result["updated"], restore_seconds


def bench_user() -> User:
    ensure_role_groups()
    user, _ = User.objects.get_or_create(email="bench-viewer@example.com")
    set_role(user, "viewer")
    return user


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="reuse loaded rows if present")
    parser.add_argument("--force", action="store_true", help="allow a non-bench database")
    parser.add_argument(
        "--no-bulk", action="store_true", help="skip timing the bulk writes (rolled back)"
    )
    args = parser.parse_args()

    database = connection.settings_dict["NAME"]
    if "bench" not in database and not args.force:
        print(f"refusing to replace the products of database '{database}' (use --force)")
        return 2
    print(f"database {database}, PostgreSQL {connection.cursor().connection.info.server_version}")

    present = Product.objects.filter(sku__startswith="BENCH-").count()
    if args.keep and present == args.rows == Product.objects.count():
        print(f"reusing {present:,} loaded products")
    else:
        print(f"loading {args.rows:,} products with COPY")
        print(f"  total load: {load(args.rows):.1f} s")

    client = APIClient(SERVER_NAME="localhost")
    client.force_authenticate(bench_user())
    scenario_list = scenarios(args.rows, random.Random(7))
    print("checking every answer against a direct query")
    for _, param_list in scenario_list:
        for params in param_list:
            check(client, params)
    stats = client.get("/api/dashboard/stats").json()
    assert stats["total_products"] == Product.objects.count()
    assert stats["active_products"] == Product.objects.filter(is_active=True).count()

    print(machine_speed())
    print(f"measuring {args.requests} requests per scenario (round-robin)")
    load_before = os.getloadavg()[0]
    measure(client, scenario_list, 5)  # warm-up
    timings = measure(client, scenario_list, args.requests)
    dashboard = [timed_get(client, "/api/dashboard/stats") for _ in range(50)]
    load_after = os.getloadavg()[0]
    print(machine_speed())

    print()
    print(
        f"GET /api/products/?<filter> page 1 (page_size 50), {args.requests} requests each, "
        f"Django test client in-process; {os.cpu_count()} CPUs, load average "
        f"{load_before:.1f} before / {load_after:.1f} after; every answer checked"
    )
    header = (
        f"{'filter':32} {'count':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
        f"{'sql:count':>9} {'sql:page':>8}  plan"
    )
    print(header)
    print("-" * len(header))
    failed = []
    for label, param_list in scenario_list:
        values = timings[label]
        p95 = percentile(values, 0.95)
        if p95 >= TARGET_P95_MS:
            failed.append(label)
        count = client.get("/api/products/", param_list[0]).json()["count"]
        count_ms, page_ms = sql_breakdown(client, param_list)
        print(
            f"{label:32} {count:>8,} {statistics.median(values):>7.1f} {p95:>7.1f} "
            f"{max(values):>7.1f} {count_ms:>9.1f} {page_ms:>8.1f}  "
            f"{plan_summary(client, param_list[0])}"
        )
    print(
        f"{'GET /api/dashboard/stats':32} {'':>8} {statistics.median(dashboard):>7.1f} "
        f"{percentile(dashboard, 0.95):>7.1f} {max(dashboard):>7.1f}"
    )
    print("(count: of the first value; sql:*: median SQL time of the COUNT and page queries)")
    if not args.no_bulk:
        print()
        for label, elapsed, rows in time_bulk_operations():
            print(f"{label:45} {rows:>8,} rows {elapsed / 1000:>7.2f} s  (rolled back)")
        seconds, rows, restore_seconds = time_bulk_price_job()
        print(
            f"{'bulk price job, percent +10, all rows':45} {rows:>8,} rows {seconds:>7.2f} s  "
            f"(committed; indexes rebuilt after the update, then the deferred ones in "
            f"{restore_seconds:.2f} s)"
        )
    if failed:
        print(f"\np95 target {TARGET_P95_MS:.0f} ms missed by: {', '.join(failed)}")
        return 1
    print(f"\nall scenarios within the p95 target of {TARGET_P95_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
