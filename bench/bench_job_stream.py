"""Latency from a job's `log()` call to receipt by a WebSocket subscriber, and burst throughput.

Stack: a real Celery worker and uvicorn (started here), PostgreSQL and Redis. The job is the
built-in `diagnostics.echo`, which stamps each line with the time it called `ctx.log()`; the
subscriber subtracts that from the time it received the line (same machine, same clock).

    python3 dev.py bench bench_job_stream            # 1,000 paced lines + a 100,000-line burst

Target (issue 2): p95 < 50 ms over 1,000 lines on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from support import bench_operator, machine_speed, setup_django, summary_ms

PASSWORD = "Bench-pass-phrase-1!"


async def stream_job(ws_url, token, job_id, expected_lines):
    """Subscribe and collect (seq, receive time, line); checks order and completeness."""
    received = []
    async with websockets.connect(f"{ws_url}/ws/jobs/?token={token}", max_queue=None) as ws:
        await ws.send(json.dumps({"type": "subscribe_job", "job_id": job_id}))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if event["type"] == "job_output":
                received.append((event["seq"], time.time(), event["line"]))
            elif event["type"] in ("job_completed", "job_failed"):
                assert event["type"] == "job_completed", event
                break
    seqs = [seq for seq, _, _ in received]
    assert seqs == list(range(1, expected_lines + 1)), "lines lost, duplicated or reordered"
    return received


def storage_floor(lines: int) -> float:
    """Seconds to store `lines` lines with one bare COPY into the log table: the floor under
    the stream's own batched COPY (the anchor of the burst figure)."""
    from django.db import connection, transaction

    from core.models import Job

    job = Job.objects.create(kind="diagnostics.echo")
    block = "".join(
        f"{job.pk}\t{n}\tline {n} t=0\t2026-01-01T00:00:00+00:00\n" for n in range(1, lines + 1)
    )
    started = time.monotonic()
    statement = "COPY core_joblogline (job_id, seq, line, created_at) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(block.encode())
    seconds = time.monotonic() - started
    job.delete()
    return seconds


def start_echo(base_url, headers, **params):
    response = httpx.post(
        f"{base_url}/api/jobs/diagnostics", json=params, headers=headers, timeout=30
    )
    response.raise_for_status()
    return response.json()["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--interval-ms", type=float, default=5.0, help="pause between paced lines")
    parser.add_argument("--burst-lines", type=int, default=100_000)
    args = parser.parse_args()

    setup_django("bench_job_stream")
    from devtools.stack import access_token, child_env, start_asgi, start_worker

    print(machine_speed(), flush=True)

    user = bench_operator("bench@example.com", PASSWORD)

    logs = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    env = child_env()
    worker = start_worker(env, logs / "worker.log")
    server = start_asgi(env, logs / "asgi.log")
    try:
        token = access_token(server.base_url, user.email, PASSWORD)
        headers = {"Authorization": f"Bearer {token}"}

        # 1. Paced lines: latency of each line from log() to the subscriber.
        job_id = start_echo(
            server.base_url, headers, lines=args.lines, interval_ms=args.interval_ms, delay_ms=1500
        )
        received = asyncio.run(stream_job(server.ws_url, token, job_id, args.lines))
        latencies = [
            (received_at - float(line.rsplit("t=", 1)[1])) * 1000
            for _, received_at, line in received
        ]
        print(
            f"log() -> WebSocket latency over {args.lines} lines "
            f"({args.interval_ms:g} ms apart): {summary_ms(latencies)}"
        )

        # 2. Burst: as fast as the job can log; lines/s reaching the subscriber.
        job_id = start_echo(server.base_url, headers, lines=args.burst_lines, delay_ms=1500)
        received = asyncio.run(stream_job(server.ws_url, token, job_id, args.burst_lines))
        first = float(received[0][2].rsplit("t=", 1)[1])
        elapsed = received[-1][1] - first
        print(
            f"burst: {args.burst_lines} lines received in order in {elapsed:.2f} s "
            f"= {args.burst_lines / elapsed:,.0f} lines/s (none lost or reordered)"
        )
        floor = storage_floor(args.burst_lines)
        print(
            f"anchor: one bare COPY of {args.burst_lines} lines into the log table "
            f"{floor:.2f} s = {args.burst_lines / floor:,.0f} lines/s "
            f"(the stream reaches the subscriber at {floor / elapsed:.2f}x that rate)"
        )
    finally:
        server.stop()
        worker.stop()
    print(machine_speed(), flush=True)


if __name__ == "__main__":
    main()
