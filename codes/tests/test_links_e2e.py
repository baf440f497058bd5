"""End to end over HTTP (real uvicorn, the project's ASGI app): short-link redirects by the
fast path and by Django, and clicks that wait in Redis while no worker runs and are all
written, once, when a worker starts again (real Celery worker and beat)."""

import sys
from datetime import timedelta

import httpx
import pytest
from django.test import TestCase
from django.utils import timezone

from codes.models import Link, LinkClick
from codes.services import clicks, links, links_cache
from core.testing.helpers import wait_until
from devtools.stack import ManagedProcess, child_env, start_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def make_link(**fields):
    fields.setdefault("url", "https://shop.example.com/tickets")
    with TestCase.captureOnCommitCallbacks(execute=True):
        return links.create_link(**fields)


def get(server, path, **headers):
    return httpx.get(
        f"{server.base_url}{path}",
        headers={"User-Agent": CHROME, **headers},
        follow_redirects=False,
        timeout=10,
    )


def test_redirects_over_http_by_the_fast_path_and_by_django(asgi_server):
    make_link(slug="e2e-http", utm_campaign="e2e")
    make_link(slug="e2e-gone", expires_at=timezone.now() - timedelta(minutes=1))
    hit = get(asgi_server, "/l/E2E-HTTP", Referer="https://news.example.org/")
    assert hit.status_code == 302
    assert hit.headers["location"] == "https://shop.example.com/tickets?utm_campaign=e2e"
    assert hit.headers["cache-control"] == "private, max-age=0"
    assert hit.headers["x-robots-tag"] == "noindex"
    assert "x-frame-options" not in hit.headers  # answered before Django's middleware

    links_cache.forget("e2e-http")  # a miss: Django's view answers (and refills the cache)
    miss = get(asgi_server, "/api/v1/links/e2e-http/redirect")
    assert miss.status_code == 302 and miss.headers["location"] == hit.headers["location"]
    assert miss.headers["x-frame-options"] == "DENY" and miss.headers["x-robots-tag"] == "noindex"

    unknown = get(asgi_server, "/l/e2e-nothing")
    assert unknown.status_code == 404 and "Link not found" in unknown.text
    assert get(asgi_server, "/l/e2e-gone").status_code == 410
    assert get(asgi_server, "/l/e2e-http", Host="evil.example").status_code == 400
    assert clicks.pending_clicks() == 2
    assert clicks.write_clicks().written == 2
    assert Link.objects.get(short_id="e2e-http").clicks == 2


def start_beat(env, log_path, schedule_path):
    beat = ManagedProcess(
        "beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "info",
            "-S",
            "celery.beat:PersistentScheduler",
            "-s",
            str(schedule_path),
            "--max-interval",
            "1",
        ],
        env,
        log_path,
    )
    beat.wait_for(lambda: b"beat: Starting" in beat.log_path.read_bytes(), 60, "celery beat")
    return beat


def test_clicks_wait_in_redis_while_no_worker_runs_and_survive_its_restart(asgi_server, tmp_path):
    link = make_link(slug="e2e-restart")
    # A queue of this test's own: only the workers started here write the clicks.
    queue = f"clicks-{tmp_path.name}"
    env = {**child_env(), "LINK_CLICK_QUEUE": queue}
    beat = start_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    worker = start_worker(env, tmp_path / "worker1.log", concurrency=1, queues=queue)
    try:
        for index in range(5):
            assert get(asgi_server, "/l/e2e-restart", **{"X-Test": str(index)}).status_code == 302
        assert wait_until(lambda: LinkClick.objects.filter(link=link).count() == 5, timeout=30)

        worker.stop()  # the writer is gone; redirects go on
        for _ in range(7):
            assert get(asgi_server, "/l/e2e-restart").status_code == 302
        assert wait_until(lambda: clicks.pending_clicks() == 7, timeout=5)
        assert not wait_until(lambda: LinkClick.objects.filter(link=link).count() > 5, timeout=3)
        assert clicks.pending_clicks() == 7  # nothing lost meanwhile

        worker = start_worker(env, tmp_path / "worker2.log", concurrency=1, queues=queue)
        assert wait_until(lambda: LinkClick.objects.filter(link=link).count() == 12, timeout=30)
        assert wait_until(lambda: clicks.pending_clicks() == 0, timeout=10)
    finally:
        worker.stop()
        beat.stop()
    link.refresh_from_db()
    assert link.clicks == 12 and LinkClick.objects.filter(link=link).count() == 12
