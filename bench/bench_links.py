"""Benchmark of short-link redirects over HTTP with every click recorded (a script).

    python3 dev.py bench bench_links [--seconds 10] [--connections 32] [--links 100]
    (or inside the venv with DATABASE_URL / REDIS_URL set; database `bench_links`)

Needs wrk (Debian: `apt-get install wrk`). It starts, on 127.0.0.1:
- uvicorn serving the project's ASGI app (config.asgi: the links fast path in front of
  Django), one process, as the Procfile's web process runs it;
- a second uvicorn serving a static 302 (raw ASGI, no Django, no Redis): the anchor, the
  ceiling of this machine's uvicorn for a redirect;
and sends wrk's load (rotating over `--links` links) to:
1. the anchor;
2. a bare Django view (`/health`, no database, no recording) through the same app: what
   Django's ASGI handler costs per request;
3. the redirects `/l/<id>`, each click queued in Redis and written by the click writer
   (codes.services.clicks.write_clicks, the beat task's function, in a thread here).
Then it waits until every click is written and checks the stored clicks against the
302 responses wrk counted. Every figure is printed beside bench.support.machine_speed().
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from support import machine_speed, setup_django

os.environ.setdefault("LOG_LEVEL", "WARNING")
setup_django(os.environ.get("BENCH_LINKS_DATABASE", "bench_links"))

from django.db import connection  # noqa: E402

from codes.models import Link, LinkClick  # noqa: E402
from codes.services import clicks, links, links_cache  # noqa: E402
from devtools.stack import ROOT, ManagedProcess, child_env, free_port, start_asgi  # noqa: E402

TARGET_PER_SECOND = 1500

STATIC_APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 302, "headers": [
        (b"location", b"https://shop.example.com/tickets?utm_source=bench"),
        (b"cache-control", b"private, max-age=0"), (b"x-robots-tag", b"noindex"),
        (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
"""

ROTATE_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/l/bench-" .. (counter % {links}))
end
"""


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    output = subprocess.run(
        [*args, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output)[1])
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    p99 = re.search(r"99%\s+([\d.]+\w+)", output)
    return {
        "requests": requests,
        "rate": rate,
        "non_2xx_3xx": int(bad[1]) if bad else 0,
        "socket_errors": errors[1].strip() if errors else "none",
        "p99": p99[1] if p99 else "?",
    }


def prepare_links(count: int) -> None:
    Link.objects.filter(short_id__startswith="bench-").delete()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LinkClick._meta.db_table}")
    for number in range(count):
        link = links.create_link(
            url=f"https://shop.example.com/tickets/{number}?ref=bench",
            slug=f"bench-{number}",
            utm_source="bench",
            utm_campaign="load",
        )
        links.cache_record(link)  # as saving does after commit
    links_cache.client().delete(links_cache.clicks_key())


class Writer(threading.Thread):
    """The click writer, as beat runs it (every second), until told to stop."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.written = 0

    def run(self):
        while not self.stop.wait(1.0):
            self.written += clicks.write_clicks().written
        connection.close()


def start_static(env: dict, log_dir: Path) -> ManagedProcess:
    module = log_dir / "bench_static_redirect.py"
    module.write_text(STATIC_APP)
    port = free_port()
    server = ManagedProcess(
        "static",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_static_redirect:app",
            "--app-dir",
            str(log_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env,
        log_dir / "static.log",
    )
    server.base_url = f"http://127.0.0.1:{port}"
    time.sleep(1.5)
    return server


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--links", type=int, default=100)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)")
        return 2
    speed = machine_speed()
    print(speed)
    prepare_links(options.links)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-links-"))
    env = {**child_env("config.settings_test"), "PYTHONPATH": str(ROOT)}
    app_server = start_asgi(env, log_dir / "asgi.log")
    static = start_static(env, log_dir)
    script = log_dir / "rotate.lua"
    script.write_text(ROTATE_SCRIPT.replace("{links}", str(options.links)))
    writer = Writer()
    writer.start()
    try:
        seconds, conns = options.seconds, options.connections
        anchor = wrk(f"{static.base_url}/l/x", seconds, conns)
        bare = wrk(f"{app_server.base_url}/health", seconds, conns)
        before = LinkClick.objects.count()
        redirects = wrk(app_server.base_url, seconds, conns, script)
        drain_started = time.monotonic()
        while clicks.pending_clicks() and time.monotonic() - drain_started < 120:
            time.sleep(0.2)
        drain = time.monotonic() - drain_started
    finally:
        writer.stop.set()
        writer.join(10)
        static.stop()
        app_server.stop()
    stored = LinkClick.objects.count() - before
    counted = sum(
        Link.objects.filter(short_id__startswith="bench-").values_list("clicks", flat=True)
    )
    answered = redirects["requests"] - redirects["non_2xx_3xx"]
    print(f"{conns} connections, {seconds} s each, 1 uvicorn process; {speed}")
    print(f"  anchor, static 302 (raw ASGI):        {anchor['rate']:8.0f} /s  p99 {anchor['p99']}")
    print(f"  bare Django view (/health):           {bare['rate']:8.0f} /s  p99 {bare['p99']}")
    print(
        f"  short-link redirects, clicks queued:  {redirects['rate']:8.0f} /s  "
        f"p99 {redirects['p99']}  ({redirects['rate'] / anchor['rate']:.0%} of the anchor)"
    )
    print(
        f"  302 answered {answered}, clicks stored {stored} (link counters {counted}), "
        f"queue drained {drain:.1f} s after the load; non-3xx {redirects['non_2xx_3xx']}, "
        f"socket errors {redirects['socket_errors']}"
    )
    ok = (
        redirects["rate"] >= TARGET_PER_SECOND
        and redirects["non_2xx_3xx"] == 0
        and stored == counted
        # wrk stops with up to one request per connection in flight: served, not counted.
        and answered <= stored <= answered + conns
    )
    verdict = "met" if ok else "NOT met"
    print(f"target >= {TARGET_PER_SECOND} redirects/s with every click stored: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
