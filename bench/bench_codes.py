"""Benchmark of the codes app: allocation under concurrency, and the bulk code jobs (a script).

    python3 dev.py bench bench_codes [--clients 32] [--seconds 10] [--web-workers 2]
        [--codes 1000000] [--rename 100000] [--diff-rows 1000000]
        [--only allocate,create,rename,diff]
    (or inside the venv with DATABASE_URL / REDIS_URL set; database `bench_codes`)

Every figure is printed beside bench.support.machine_speed() and beside an anchor measured
in the same run, with the ratio:

1. allocate (target >= 500/s over HTTP, >= 3,000/s through the service, the service within
   1.5x of the anchor). A pool of available `discount` codes is loaded, then:
   - HTTP: `--clients` keep-alive connections (an asyncio client, one process) send
     `POST /api/codes/allocate?code_type=discount`, each with its own Idempotency-Key, for
     `--seconds` to uvicorn serving config.asgi (`--web-workers` processes, started here);
   - service: `codes.services.allocation.allocate_code` from `--clients` threads (spread
     over `--procs` processes, each thread its own database connection);
   - anchor: a bare SQL function doing only `UPDATE ... WHERE id = (SELECT ... FOR UPDATE
     SKIP LOCKED LIMIT 1) RETURNING id` on codes of another type in the same table, called
     from the same threads and processes over bare psycopg connections.
   Asserted: every handed-out code is distinct, every answer was a 200, and the used codes
   and allocation rows are exactly the allocations made (plus, over HTTP, at most one
   request per connection still in flight when the client stopped).
2. create (target <= 20 s): a CSV of `--codes` codes (code, discount_percent, campaign)
   through `POST /api/automation/fienta/create-codes` and a real Celery worker, from the
   request until the job is completed; anchor: a bare `COPY` of the same file into a plain
   table. Asserted: every row `created`, the batch has that many codes, samples match.
3. rename (target <= 5 s): `--rename` of those codes through rename-codes (a CSV list);
   asserted: all renamed to `RN-000001` ... in list order, `previous_code` kept. Anchor: one
   bare `UPDATE codes_code ... FROM` a plain table of (old, new) pairs renaming them back.
4. diff (target <= 15 s, peak <= 300 MB): two `--diff-rows` lists (code, discount_percent,
   campaign) built with a known number of removed, added, changed and duplicate keys,
   through csv/diff on a fresh worker; its child's peak RSS (VmHWM) is reported. Anchor:
   Python's csv module + a dict diff of the same files in a subprocess (time and VmHWM).
   Asserted: the job's counts equal the construction's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
from support import bench_operator, machine_speed, setup_django

os.environ.setdefault("LOG_LEVEL", "WARNING")
setup_django(os.environ.get("BENCH_CODES_DATABASE", "bench_codes"))

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

from codes.ids import UUID7_SQL  # noqa: E402
from codes.models import Code, CodeAllocation, CodeBatch, CodeType  # noqa: E402
from codes.services.allocation import allocate_code, allocate_statement  # noqa: E402
from core.models import Job  # noqa: E402
from core.models.job import TERMINAL_STATUSES  # noqa: E402
from devtools.stack import (  # noqa: E402
    ManagedProcess,
    access_token,
    child_env,
    start_asgi,
    start_worker,
)

PASSWORD = "bench-codes-Pass-1!"
ALLOC_TYPE = "discount"
ANCHOR_TYPE = "bench-anchor"
TARGETS = {
    "http": 500,  # allocations/s
    "service": 3000,  # allocations/s
    "service_vs_anchor": 1.5,
    "create": 20.0,  # s
    "rename": 5.0,  # s
    "diff": 15.0,  # s
    "diff_mb": 300.0,
}
ANCHOR_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_codes_anchor_allocate(p_type text) RETURNS uuid
LANGUAGE sql AS $$
    UPDATE codes_code AS c SET status = 'used', used_at = now(), updated_at = now()
    WHERE c.id = (SELECT id FROM codes_code
                  WHERE code_type >= p_type AND code_type <= p_type
                    AND status = 'available' AND expires_at IS NULL
                  ORDER BY code_type, id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING c.id
$$;
INSERT INTO codes_codetype (slug, name, low_water_mark, shopify_discount_id, created_at,
                            updated_at)
VALUES ('bench-anchor', '', 0, '', now(), now()) ON CONFLICT DO NOTHING;
"""
#: Where the code's id is in a row of the allocation statement.
ID_AT = [field.column for field in Code._meta.concrete_fields].index("id")
verdicts: list[tuple[str, bool]] = []


def verdict(name: str, ok: bool) -> None:
    verdicts.append((name, ok))


def sql(statement: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def settle() -> None:
    """Start a measurement from a quiet server (dirty pages written, no autovacuum busy)."""
    with connection.cursor() as cursor:
        with contextlib.suppress(Exception):  # needs superuser or pg_checkpoint
            cursor.execute("CHECKPOINT")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            )
            if not cursor.fetchone()[0]:
                return
            time.sleep(0.2)


def reset_codes() -> None:
    sql("TRUNCATE codes_codeallocation, codes_code CASCADE")
    for (name,) in sql("SELECT tablename FROM pg_tables WHERE tablename LIKE 'codes\\_stage\\_%%'"):
        sql(f"DROP TABLE IF EXISTS {name}")


def load_pool(code_type: str, count: int, prefix: str) -> None:
    """`count` available codes of `code_type`, set-based (not what is measured)."""
    CodeType.objects.get_or_create(slug=code_type, defaults={"low_water_mark": 100})
    sql(
        f"""
        INSERT INTO codes_code (id, code, code_type, status, campaign, reference,
            revoked_reason, previous_code, metadata, created_at, updated_at)
        SELECT {UUID7_SQL}, %s || lpad(i::text, 8, '0'), %s, 'available', '', '', '', '',
               '{{}}', now(), now()
        FROM generate_series(1, %s) AS i ORDER BY i
        """,  # noqa: S608 - our own constant
        [prefix, code_type, count],
    )
    sql("VACUUM ANALYZE codes_code")


# --- 1. allocation ----------------------------------------------------------------------


def _thread_client(mode: str, conninfo: str, start_at: float, seconds: float, label: str, out):
    """One client thread: allocate until the window closes; appends (ids, in_window, errors)."""
    ids: list[str] = []
    errors: Counter = Counter()
    in_window = 0
    raw = None
    try:
        if mode == "service":
            connection.ensure_connection()
        else:
            import psycopg

            raw = psycopg.connect(conninfo, autocommit=True, cursor_factory=psycopg.ClientCursor)
            statement = allocate_statement()
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        number = 0
        while True:
            now = time.time()
            if now >= end:
                break
            number += 1
            try:
                key = f"{label}-{number}"
                if mode == "service":
                    code_id = str(allocate_code(ALLOC_TYPE, idempotency_key=key).code.pk)
                elif mode == "statement":
                    params = {"code_type": ALLOC_TYPE, "reference": "", "key": key, "actor": None}
                    code_id = str(raw.execute(statement, params).fetchone()[ID_AT])
                else:
                    code_id = str(
                        raw.execute(
                            "SELECT bench_codes_anchor_allocate(%s)", [ANCHOR_TYPE], prepare=True
                        ).fetchone()[0]
                    )
            except Exception as exc:  # counted and reported
                errors[type(exc).__name__] += 1
                continue
            ids.append(code_id)
            if time.time() <= end:
                in_window += 1
    finally:
        if raw is not None:
            raw.close()
        connection.close()
    out.append((ids, in_window, errors))


def _process_client(mode, conninfo, threads, start_at, seconds, queue, number):
    connections.close_all()  # the parent's connection is not ours to use
    out: list = []
    workers = [
        threading.Thread(
            target=_thread_client,
            args=(mode, conninfo, start_at, seconds, f"{mode}-{number}-{t}-{os.getpid()}", out),
        )
        for t in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ids = [i for chunk, _, _ in out for i in chunk]
    errors: Counter = Counter()
    for _, _, found in out:
        errors.update(found)
    queue.put((ids, sum(n for _, n, _ in out), dict(errors)))


def run_clients(mode: str, clients: int, procs: int, seconds: float) -> dict:
    """`clients` threads over `procs` forked processes; allocations/s in the window."""
    from devtools.stack import database_url

    conninfo = database_url(connection.settings_dict).replace("postgres://", "postgresql://", 1)
    connections.close_all()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 2.0 + 0.2 * procs
    per = [clients // procs + (1 if n < clients % procs else 0) for n in range(procs)]
    children = [
        context.Process(
            target=_process_client, args=(mode, conninfo, per[n], start_at, seconds, queue, n)
        )
        for n in range(procs)
        if per[n]
    ]
    for child in children:
        child.start()
    results = [queue.get(timeout=seconds + 120) for _ in children]
    for child in children:
        child.join(30)
    ids = [i for chunk, _, _ in results for i in chunk]
    errors: Counter = Counter()
    for _, _, found in results:
        errors.update(found)
    in_window = sum(n for _, n, _ in results)
    return {"ids": ids, "rate": in_window / seconds, "errors": dict(errors)}


def start_web(env: dict, log_path: Path, workers: int) -> ManagedProcess:
    """uvicorn with `workers` processes, no access log (every request would be a line)."""
    server = start_asgi(
        env, log_path, extra_args=("--workers", str(workers), "--no-access-log"), timeout=90
    )
    time.sleep(1.0 + 0.5 * workers)  # every worker process up
    return server


async def _http_load(
    port: int, token: str, clients: int, seconds: float, path: str | None = None
) -> dict:
    """Allocations (or, with `path`, GETs of that path: the bare-view anchor) for `seconds`."""
    codes: list[str] = []
    statuses: Counter = Counter()
    latencies: list[float] = []
    in_window = 0
    start = time.monotonic() + 0.5
    end = start + seconds

    async def client(number: int) -> None:
        nonlocal in_window
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < start:
            await asyncio.sleep(0.01)
        sent = 0
        while time.monotonic() < end:
            sent += 1
            if path:
                request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
            else:
                request = (
                    f"POST /api/codes/allocate?code_type={ALLOC_TYPE} HTTP/1.1\r\n"
                    "Host: 127.0.0.1\r\n"
                    f"Authorization: Bearer {token}\r\n"
                    f"Idempotency-Key: http-{number}-{sent}\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode()
            began = time.monotonic()
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length, chunked = None, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    chunk = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    parts.append(chunk[:-2])
                body = b"".join(parts)
            else:
                body = await reader.readexactly(length or 0)
            finished = time.monotonic()
            statuses[status] += 1
            if status == 200 and not path:
                marker = body.index(b'"code":"') + 8
                codes.append(body[marker : body.index(b'"', marker)].decode())
            if finished <= end:
                in_window += 1
                latencies.append((finished - began) * 1000)
        writer.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return {
        "codes": codes,
        "statuses": dict(statuses),
        "rate": in_window / seconds,
        "latencies": latencies,
    }


def http_load(port: int, token: str, clients: int, seconds: float, path=None) -> dict:
    try:
        import uvloop

        return uvloop.run(_http_load(port, token, clients, seconds, path))
    except ImportError:
        return asyncio.run(_http_load(port, token, clients, seconds, path))


def bench_allocate(options, env: dict, work: Path, speed: str) -> None:
    from support import summary_ms

    clients, seconds = options.clients, options.seconds
    reset_codes()
    sql(ANCHOR_FUNCTION)
    pool = int(max(100_000, 9000 * seconds))
    load_pool(ALLOC_TYPE, pool, "ALLOC-")
    load_pool(ANCHOR_TYPE, pool, "ANCHOR-")
    user = bench_operator("bench-codes@example.com", PASSWORD)

    http = {"codes": [], "statuses": {}, "rate": 0.0, "latencies": []}
    health = dict(http)
    if not options.no_http:
        web_env = {**env, "DB_CONN_MAX_AGE": str(options.conn_max_age)}
        server = start_web(web_env, work / "asgi.log", options.web_workers)
        try:
            token = access_token(server.base_url, user.email, PASSWORD)
            settle()
            http = http_load(server.port, token, clients, seconds)
            # The anchor of the HTTP figure: a bare Django view through the same stack.
            health = http_load(server.port, token, clients, min(seconds, 5), path="/health")
        finally:
            server.stop()
    http_used = Code.objects.filter(code_type_id=ALLOC_TYPE, status="used").count()
    http_allocations = CodeAllocation.objects.count()
    answered = http["statuses"].get(200, 0)
    http_ok = (
        set(http["statuses"]) <= {200}
        and len(set(http["codes"])) == len(http["codes"]) == answered
        and http_used == http_allocations
        and answered <= http_allocations <= answered + clients
        and Code.objects.filter(code__in=http["codes"], status="used").count() == answered
    )

    # the service, then the anchor, with the same clients
    settle()
    service = run_clients("service", clients, options.procs, seconds)
    used = Code.objects.filter(code_type_id=ALLOC_TYPE, status="used").count()
    allocations = CodeAllocation.objects.count()
    service_ok = (
        not service["errors"]
        and len(set(service["ids"])) == len(service["ids"])
        and used == allocations == http_allocations + len(service["ids"])
        and Code.objects.filter(pk__in=service["ids"], status="used").count() == len(service["ids"])
    )
    settle()
    bare = run_clients("statement", clients, options.procs, seconds)
    bare_ok = (
        not bare["errors"]
        and len(set(bare["ids"])) == len(bare["ids"])
        and "None" not in bare["ids"]
        and CodeAllocation.objects.count() == allocations + len(bare["ids"])
    )
    settle()
    anchor = run_clients("anchor", clients, options.procs, seconds)
    anchor_used = Code.objects.filter(code_type_id=ANCHOR_TYPE, status="used").count()
    anchor_ok = (
        not anchor["errors"] and len(set(anchor["ids"])) == len(anchor["ids"]) == anchor_used
    )
    ratio = anchor["rate"] / service["rate"] if service["rate"] else float("inf")
    print(
        f"allocate: {clients} clients, {seconds:g} s each, pool {pool:,} codes; {speed}",
        flush=True,
    )
    print(
        f"  anchor, bare SQL function (UPDATE ... SKIP LOCKED), {options.procs} procs x threads: "
        f"{anchor['rate']:8,.0f} /s  ({len(anchor['ids']):,} codes, all distinct: {anchor_ok})"
    )
    print(
        f"  the service's statement over bare psycopg:   {bare['rate']:8,.0f} /s  "
        f"(distinct: {bare_ok}; errors {bare['errors'] or 'none'})"
    )
    print(
        f"  service allocate_code, same threads:  {service['rate']:8,.0f} /s  "
        f"(anchor/service {ratio:.2f}x; target >= {TARGETS['service']:,}/s and <= "
        f"{TARGETS['service_vs_anchor']}x; {len(service['ids']):,} codes, distinct and "
        f"= used = allocation rows: {service_ok}; errors {service['errors'] or 'none'})"
    )
    print(
        f"  HTTP POST /api/codes/allocate ({options.web_workers} uvicorn workers, "
        f"DB_CONN_MAX_AGE={options.conn_max_age}): {http['rate']:8,.0f} /s  "
        f"({http['rate'] / anchor['rate']:.0%} of the anchor; target >= {TARGETS['http']}/s); "
        f"{summary_ms(http['latencies']) if http['latencies'] else 'no answers'}; "
        f"statuses {http['statuses']}; {answered:,} codes, distinct, used {http_used:,} = "
        f"allocation rows {http_allocations:,}: {http_ok}",
        flush=True,
    )
    if health["latencies"]:
        print(
            f"  anchor of HTTP, GET /health (a bare Django view, same server and clients): "
            f"{health['rate']:8,.0f} /s  (allocate/health {http['rate'] / health['rate']:.0%}); "
            f"{summary_ms(health['latencies'])}; statuses {health['statuses']}",
            flush=True,
        )
    verdict("allocate HTTP >= 500/s", http["rate"] >= TARGETS["http"])
    verdict("allocate service >= 3000/s", service["rate"] >= TARGETS["service"])
    verdict("allocate service within 1.5x of the anchor", ratio <= TARGETS["service_vs_anchor"])
    assert http_ok and service_ok and anchor_ok, "allocation handed out a code twice or lost one"


# --- 2-4. the bulk jobs -----------------------------------------------------------------


def run_job(base_url: str, token: str, path: str, body: dict) -> tuple[Job, float]:
    """POST a job, wait until it ends; (the job, seconds from the request to the end)."""
    import httpx

    settle()
    started = time.monotonic()
    response = httpx.post(
        f"{base_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    while Job.objects.filter(pk=job_id).exclude(status__in=TERMINAL_STATUSES).exists():
        time.sleep(0.02)
    seconds = time.monotonic() - started
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", (job.status, job.error)
    return job, seconds


def job_phases(job: Job) -> str:
    """The job log's last lines (each phase logs how long it took)."""
    from core.services.job_logs import log_chunk

    lines, after = [], 0
    while rows := log_chunk(job.pk, after):
        lines += [line for _, line in rows]
        after = rows[-1][0]
    return "\n".join(f"      {line}" for line in lines[-12:])


def write_codes_csv(path: Path, count: int) -> None:
    with path.open("w", newline="") as handle:
        handle.write("code,discount_percent,campaign\n")
        block = []
        for i in range(1, count + 1):
            block.append(f"BULK-{i:08d},{10 + i % 40},spring-{i % 7}\n")
            if len(block) == 100_000:
                handle.write("".join(block))
                block = []
        handle.write("".join(block))


def copy_anchor(path: Path) -> float:
    """A bare COPY of the file into a plain table (the anchor of create-codes)."""
    sql("DROP TABLE IF EXISTS bench_codes_copy")
    sql("CREATE TABLE bench_codes_copy (code text, discount_percent numeric(5,2), campaign text)")
    settle()
    started = time.monotonic()
    with (
        connection.cursor() as cursor,
        path.open("rb") as handle,
        cursor.cursor.copy(
            "COPY bench_codes_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy,
    ):
        while block := handle.read(1 << 20):
            copy.write(block)
    seconds = time.monotonic() - started
    sql("DROP TABLE bench_codes_copy")
    return seconds


def bench_create(options, server, token: str, data_dir: Path, speed: str) -> None:
    count = options.codes
    path = data_dir / "bench" / "codes.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_codes_csv(path, count)
    anchor = copy_anchor(path)
    sql("DELETE FROM codes_code WHERE code LIKE 'BULK-%%' OR code LIKE 'RN-%%'")
    sql("VACUUM ANALYZE codes_code")
    job, seconds = run_job(
        server.base_url,
        token,
        "/api/automation/fienta/create-codes",
        {"csv_path": "bench/codes.csv", "campaign": "bench"},
    )
    counts = job.result["counts"]
    batch = CodeBatch.objects.get(pk=job.result["batch_id"])
    in_batch = Code.objects.filter(batch=batch).count()
    rng = random.Random(3)
    samples_ok = True
    for i in rng.sample(range(1, count + 1), 20):
        code = Code.objects.get(code=f"BULK-{i:08d}")
        samples_ok &= (
            code.status == "available"
            and code.code_type_id == settings.CODES_DEFAULT_CODE_TYPE
            and code.discount_percent == 10 + i % 40
            and code.campaign == f"spring-{i % 7}"
            and code.batch_id == batch.pk
        )
    ok = counts == {"created": count} and in_batch == count and samples_ok
    print(f"create-codes: {count:,} rows ({path.stat().st_size / 1e6:.1f} MB CSV); {speed}")
    print(f"  anchor, bare COPY of the file into a plain table: {anchor:6.2f} s")
    print(
        f"  create-codes job, request to completed:           {seconds:6.2f} s  "
        f"({seconds / anchor:.1f}x the anchor; job {job.duration_seconds:.2f} s; "
        f"target <= {TARGETS['create']:g} s) = {count / seconds:,.0f} codes/s; counts {counts}, "
        f"codes in the batch {in_batch:,}, samples match: {samples_ok}",
        flush=True,
    )
    print(job_phases(job), flush=True)
    verdict("create <= 20 s", seconds <= TARGETS["create"])
    assert ok, "create-codes did not create every code as listed"


def bench_rename(options, server, token: str, data_dir: Path, speed: str) -> None:
    count = options.rename
    path = data_dir / "bench" / "rename.csv"
    # Every 10th code of the created ones, in a shuffled order: the list's order numbers them.
    rng = random.Random(5)
    picked = [f"BULK-{i:08d}" for i in range(1, 10 * count + 1, 10)]
    assert Code.objects.filter(code__in=picked[:1000]).count() == min(1000, count)
    rng.shuffle(picked)
    path.write_text("code\n" + "\n".join(picked) + "\n")
    job, seconds = run_job(
        server.base_url,
        token,
        "/api/automation/fienta/rename-codes",
        {"csv_path": "bench/rename.csv", "rename_prefix": "RN-", "rename_pad_length": 6},
    )
    counts = job.result["counts"]
    renamed = Code.objects.filter(code__startswith="RN-").count()
    samples_ok = True
    for n in rng.sample(range(count), 20):
        code = Code.objects.get(code=f"RN-{n + 1:06d}")
        samples_ok &= code.previous_code == picked[n]
    ok = counts == {"renamed": count} and renamed == count and samples_ok
    # Anchor: the same rename back as one bare UPDATE from a plain table of pairs.
    sql("DROP TABLE IF EXISTS bench_codes_pairs")
    sql("CREATE TABLE bench_codes_pairs (old text, new text)")
    sql(
        "INSERT INTO bench_codes_pairs SELECT code, previous_code FROM codes_code "
        "WHERE code LIKE 'RN-%%'"
    )
    sql("ANALYZE bench_codes_pairs")
    settle()
    started = time.monotonic()
    back = sql(
        "UPDATE codes_code AS c SET code = p.new, previous_code = p.old, updated_at = now() "
        "FROM bench_codes_pairs AS p WHERE lower(c.code) = lower(p.old)"
    )
    anchor = time.monotonic() - started
    sql("DROP TABLE bench_codes_pairs")
    assert back == count, back
    print(f"rename-codes: {count:,} codes (a shuffled list of every 10th); {speed}")
    print(f"  anchor, one bare UPDATE ... FROM a table of pairs:  {anchor:6.2f} s")
    print(
        f"  rename-codes job, request to completed:           {seconds:6.2f} s  "
        f"({seconds / anchor:.1f}x the anchor; job {job.duration_seconds:.2f} s; target <= "
        f"{TARGETS['rename']:g} s); counts {counts}, RN- codes {renamed:,}, samples match "
        f"(new name by list position, previous_code): {samples_ok}",
        flush=True,
    )
    print(job_phases(job), flush=True)
    verdict("rename <= 5 s", seconds <= TARGETS["rename"])
    assert ok, "rename-codes did not rename every listed code as numbered"


def write_diff_files(old: Path, new: Path, rows: int) -> dict:
    """Two lists with a known difference; returns the expected counts.

    old: keys 0 .. rows-1; new: the first 1% removed, 1% new keys appended, every 50th key
    with another discount, every 20th in lower case (the same key), and 1,000 old keys
    listed a second time in each file (duplicates)."""
    removed = rows // 100
    added = rows // 100
    dupes = min(1000, rows // 100)
    changed = sum(1 for i in range(removed, rows) if i % 50 == 3)
    with old.open("w") as handle:
        handle.write("code,discount_percent,campaign\n")
        block = [f"D-{i:09d},{i % 30},c{i % 5}\n" for i in range(rows)]
        block += [f"D-{i:09d},99,dupe\n" for i in range(rows - dupes, rows)]
        handle.write("".join(block))
    with new.open("w") as handle:
        handle.write("code,discount_percent,campaign\n")
        block = []
        for i in range(removed, rows + added):
            key = f"D-{i:09d}"
            if i % 20 == 0:
                key = key.lower()
            discount = i % 30 + 1 if i % 50 == 3 else i % 30
            block.append(f"{key},{discount},c{i % 5}\n")
        block += [f"D-{i:09d},98,dupe\n" for i in range(rows - dupes, rows)]
        handle.write("".join(block))
    return {
        "added": added,
        "removed": removed,
        "changed": changed,
        "duplicate_key": 2 * dupes,
        "missing_key": 0,
    }


DICT_DIFF = r"""
import csv, sys
def load(path):
    rows = {}
    dupes = 0
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            key = row[0].strip().lower()
            if key in rows:
                dupes += 1
            else:
                rows[key] = row[1:]
    return rows, dupes
old, d1 = load(sys.argv[1])
new, d2 = load(sys.argv[2])
added = sum(1 for k in new if k not in old)
removed = sum(1 for k in old if k not in new)
changed = sum(1 for k, v in old.items() if k in new and new[k] != v)
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(added, removed, changed, d1 + d2, int(peak) // 1024)
"""


def vmhwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_diff(options, server, token: str, env: dict, work: Path, data_dir, speed) -> None:
    rows = options.diff_rows
    old, new = data_dir / "bench" / "old.csv", data_dir / "bench" / "new.csv"
    expected = write_diff_files(old, new, rows)
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", DICT_DIFF, str(old), str(new)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    anchor = time.monotonic() - started
    a_added, a_removed, a_changed, a_dupes, a_peak = map(int, out)
    assert (a_added, a_removed, a_changed, a_dupes) == (
        expected["added"],
        expected["removed"],
        expected["changed"],
        expected["duplicate_key"],
    ), out
    # A fresh worker: its child's VmHWM is then the peak of this job alone.
    worker = start_worker(env, work / "worker-diff.log", concurrency=1)
    try:
        child = psutil.Process(worker.pid).children()[0]
        before = vmhwm_mb(child.pid)
        job, seconds = run_job(
            server.base_url,
            token,
            "/api/automation/csv/diff",
            {"diff_old": "bench/old.csv", "diff_new": "bench/new.csv", "key_column": "code"},
        )
        peak = vmhwm_mb(child.pid)
    finally:
        worker.stop()
    counts = job.result["counts"]
    ok = counts == expected
    print(f"csv/diff: two lists of {rows:,} rows ({old.stat().st_size / 1e6:.1f} MB each); {speed}")
    print(f"  anchor, Python csv + dict diff (subprocess):      {anchor:6.2f} s, peak {a_peak} MB")
    print(
        f"  csv/diff job, request to completed:               {seconds:6.2f} s  "
        f"({seconds / anchor:.2f}x the anchor; job {job.duration_seconds:.2f} s; target <= "
        f"{TARGETS['diff']:g} s), worker child peak RSS {peak:.0f} MB (at its start "
        f"{before:.0f} MB; target <= {TARGETS['diff_mb']:g} MB); counts {counts}: "
        f"{'as constructed' if ok else f'EXPECTED {expected}'}",
        flush=True,
    )
    print(job_phases(job), flush=True)
    verdict("diff <= 15 s", seconds <= TARGETS["diff"])
    verdict("diff peak <= 300 MB", peak <= TARGETS["diff_mb"])
    assert ok, "csv/diff counts differ from the construction"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--procs", type=int, default=2, help="processes the service clients use")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--conn-max-age", type=int, default=0, help="DB_CONN_MAX_AGE of the web")
    parser.add_argument("--no-http", action="store_true", help="allocation: skip HTTP")
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--rename", type=int, default=100_000)
    parser.add_argument("--diff-rows", type=int, default=1_000_000)
    parser.add_argument("--only", default="allocate,create,rename,diff")
    options = parser.parse_args()
    only = set(options.only.split(","))
    assert options.rename * 10 <= options.codes or "rename" not in only

    speed = machine_speed()
    print(speed, flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-codes-"))
    data_dir = work / "data"
    data_dir.mkdir()
    settings.DATA_DIR = data_dir
    env = {**child_env(), "PLATFORM_DATA_DIR": str(data_dir)}
    if "allocate" in only:
        bench_allocate(options, env, work, speed)
    bulk = only & {"create", "rename", "diff"}
    if bulk:
        user = bench_operator("bench-codes@example.com", PASSWORD)
        server = start_asgi(env, work / "asgi-jobs.log")
        worker = start_worker(env, work / "worker.log", concurrency=1)
        try:
            token = access_token(server.base_url, user.email, PASSWORD)
            if "create" in only or "rename" in only:
                bench_create(options, server, token, data_dir, speed)
            if "rename" in only:
                bench_rename(options, server, token, data_dir, speed)
            if "diff" in only:
                worker.stop()
                bench_diff(options, server, token, env, work, data_dir, speed)
        finally:
            server.stop()
            worker.stop()
    print(machine_speed(), flush=True)
    for name, ok in verdicts:
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
