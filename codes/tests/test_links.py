"""Short links: creation and validation, the redirect (UTM merged, headers, 404/410, any
case), clicks queued in Redis and written in batches (idempotent, bots apart, no IP kept),
statistics, the ASGI fast path, the admin chart."""

import asyncio
import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import TestCase
from django.utils import timezone

from codes.asgi_links import links_fast_path
from codes.models import Link, LinkClick
from codes.services import clicks, links, links_cache
from codes.services.clicks import parse_user_agent, write_clicks
from devtools.stack import free_port

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def create(client, **body):
    body.setdefault("url", "https://shop.example.com/tickets")
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/api/links", body, format="json")


def make_link(**fields):
    fields.setdefault("url", "https://shop.example.com/tickets")
    with TestCase.captureOnCommitCallbacks(execute=True):
        return links.create_link(**fields)


def visit(client, path, *, ua=CHROME, ip="203.0.113.7", referrer="", method="get"):
    headers = {"HTTP_USER_AGENT": ua, "REMOTE_ADDR": ip}
    if referrer:
        headers["HTTP_REFERER"] = referrer
    return getattr(client, method)(path, **headers)


@pytest.mark.django_db
def test_create_answers_the_short_id_short_url_and_destination(operator, settings):
    settings.LINK_BASE_URL = "https://go.example.com"
    response = create(
        operator,
        url="https://shop.example.com/tickets?event=42&utm_source=old#seats",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="spring-sale",
        title="Spring sale",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert len(data["short_id"]) == 8
    assert data["short_url"] == f"https://go.example.com/l/{data['short_id']}"
    parts = urlsplit(data["url"])
    # Existing parameters kept in place, the UTM one replaced (not duplicated), fragment kept.
    assert parse_qsl(parts.query) == [
        ("event", "42"),
        ("utm_source", "newsletter"),
        ("utm_medium", "email"),
        ("utm_campaign", "spring-sale"),
    ]
    assert parts.fragment == "seats" and parts.netloc == "shop.example.com"
    assert data["target_url"] == "https://shop.example.com/tickets?event=42&utm_source=old#seats"
    assert operator.get(f"/api/links/{data['short_id'].upper()}").json()["id"] == data["id"]


@pytest.mark.django_db
def test_short_url_defaults_to_the_address_the_api_was_called_on(operator):
    data = create(operator, slug="Spring-2026").json()
    assert data["short_id"] == "Spring-2026"
    assert data["short_url"] == "http://testserver/l/Spring-2026"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example.com/x",
        "https://user:pass@bank.example.com/",
        "https://bank.example.com@evil.example.com/",
        "//shop.example.com/x",
        "/relative/path",
        "https://shop.example.com/a b",
        "https://",
        "https://shop.example.com/\x00",
        "",
        "https://x.example.com/" + "a" * 2000,
    ],
)
def test_only_plain_http_and_https_targets_are_accepted(operator, url):
    response = create(operator, url=url)
    assert response.status_code == 400, response.json()
    assert "url" in response.json()["error"]["fields"]
    assert not Link.objects.exists()


@pytest.mark.django_db
def test_custom_slugs_are_unique_in_any_case_and_checked(operator):
    assert create(operator, slug="Promo").status_code == 201
    taken = create(operator, slug="PROMO")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "slug_taken"
    for bad in ("ab", "has space", "ümlaut", "redirect", "x" * 65):
        response = create(operator, slug=bad)
        assert response.status_code == 400, (bad, response.json())
    assert create(operator, expired_url="javascript:alert(1)").status_code == 400
    assert create(operator, unknown=1).json()["error"]["fields"] == {"unknown": ["Unknown field."]}


@pytest.mark.django_db
def test_creating_links_needs_the_operator_role(client_for, api_client):
    assert create(client_for("viewer")).status_code == 403
    assert create(api_client).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_visit_redirects_with_the_headers_and_its_click_is_written(client):
    link = make_link(
        url="https://shop.example.com/t?x=1", utm_source="ig", utm_campaign="launch", slug="Launch"
    )
    response = visit(client, "/l/launch", referrer="https://www.instagram.com/p/abc")
    assert response.status_code == 302
    assert (
        response["Location"] == "https://shop.example.com/t?x=1&utm_source=ig&utm_campaign=launch"
    )
    assert response["Cache-Control"] == "private, max-age=0"
    assert response["X-Robots-Tag"] == "noindex"
    assert clicks.pending_clicks() == 1 and not LinkClick.objects.exists()

    summary = write_clicks()
    assert summary.written == 1 and summary.batches == 1 and clicks.pending_clicks() == 0
    click = LinkClick.objects.get()
    assert click.link == link and click.referrer_host == "www.instagram.com"
    assert (click.browser, click.os, click.device_type, click.is_bot) == (
        "Chrome",
        "Windows",
        "desktop",
        False,
    )
    assert len(click.visitor) == 32
    stored = json.dumps([str(getattr(click, f.attname)) for f in LinkClick._meta.fields])
    assert "203.0.113.7" not in stored  # never the IP
    link.refresh_from_db()
    assert link.clicks == 1 and link.bot_clicks == 0 and link.last_clicked_at == click.clicked_at


@pytest.mark.django_db(transaction=True)
def test_the_seed_path_and_the_v1_path_redirect_the_same_way(client):
    make_link(slug="seed-path")
    for path in (
        "/api/links/seed-path/redirect",
        "/api/v1/links/SEED-PATH/redirect/",
        "/l/seed-path/",
    ):
        response = visit(client, path)
        assert response.status_code == 302, path
        assert response["Location"] == "https://shop.example.com/tickets"
    assert write_clicks().written == 3


@pytest.mark.django_db(transaction=True)
def test_a_cache_miss_reads_the_database_and_counts_the_click(client):
    link = make_link(slug="miss")
    links_cache.forget("miss")
    assert visit(client, "/l/MISS").status_code == 302
    assert links_cache.client().exists(links_cache.record_key("miss"))  # refilled
    assert visit(client, "/l/miss").status_code == 302
    assert write_clicks().written == 2
    link.refresh_from_db()
    assert link.clicks == 2


@pytest.mark.django_db
def test_unknown_links_are_a_404_page_or_a_json_404_under_the_api(client):
    page = visit(client, "/l/nope-nope")
    assert page.status_code == 404 and "text/html" in page["Content-Type"]
    assert b"Link not found" in page.content and page["X-Robots-Tag"] == "noindex"
    api = visit(client, "/api/links/nope-nope/redirect")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    assert visit(client, "/l/bad%20id").status_code == 404
    assert clicks.pending_clicks() == 0


@pytest.mark.django_db(transaction=True)
def test_expired_links_are_gone_or_go_to_their_expiry_url_and_count_nothing(client):
    past = timezone.now() - timedelta(minutes=1)
    make_link(slug="old-sale", expires_at=past)
    make_link(slug="old-promo", expires_at=past, expired_url="https://shop.example.com/ended")
    soon = make_link(slug="soon", expires_at=timezone.now() + timedelta(hours=1))

    gone = visit(client, "/l/old-sale")
    assert gone.status_code == 410 and b"expired" in gone.content
    assert visit(client, "/api/links/old-sale/redirect").json()["error"]["code"] == "link_gone"
    moved = visit(client, "/l/old-promo")
    assert moved.status_code == 302 and moved["Location"] == "https://shop.example.com/ended"
    assert visit(client, "/l/soon").status_code == 302

    # The cached record expires with the link, not with the cache entry.
    Link.objects.filter(pk=soon.pk).update(expires_at=past)
    links_cache.store("soon", "https://shop.example.com/tickets", past)
    assert visit(client, "/l/soon").status_code == 410
    assert write_clicks().written == 1  # the one visit before it expired


@pytest.mark.django_db(transaction=True)
def test_switching_a_link_off_takes_effect_at_once(operator, client):
    make_link(slug="switch")
    assert visit(client, "/l/switch").status_code == 302
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = operator.patch("/api/links/switch", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert visit(client, "/l/switch").status_code == 410
    with TestCase.captureOnCommitCallbacks(execute=True):
        operator.patch(
            "/api/links/switch",
            {"is_active": True, "url": "https://other.example.com/", "utm_medium": "sms"},
            format="json",
        )
    assert visit(client, "/l/switch")["Location"] == "https://other.example.com/?utm_medium=sms"
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert operator.delete("/api/links/switch").status_code == 204
    assert visit(client, "/l/switch").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_bots_are_flagged_and_kept_apart_in_the_stats(client, operator):
    make_link(slug="stats-link")
    for ip in ("198.51.100.1", "198.51.100.2"):
        for _ in range(3):
            visit(client, "/l/stats-link", ip=ip, ua=IPHONE, referrer="https://news.example.org/a")
    visit(client, "/l/stats-link", ip="198.51.100.3", ua=CHROME)
    visit(client, "/l/stats-link", ip="66.249.66.1", ua=GOOGLEBOT)
    visit(client, "/l/stats-link", ip="192.0.2.9", ua="curl/8.5.0")
    visit(client, "/l/stats-link", ip="192.0.2.9", ua="")
    assert write_clicks().written == 10

    stats = operator.get("/api/links/stats-link/stats").json()
    assert stats["clicks"] == 7 and stats["bot_clicks"] == 3 and stats["unique_visitors"] == 3
    today = timezone.now().date().isoformat()
    assert stats["per_day"][-1] == {
        "date": today,
        "clicks": 7,
        "unique_visitors": 3,
        "bot_clicks": 3,
    }
    assert len(stats["per_day"]) == 30 and stats["to"] == today
    assert stats["referrers"] == [
        {"name": "news.example.org", "clicks": 6},
        {"name": "(direct)", "clicks": 1},
    ]
    assert stats["devices"] == [{"name": "mobile", "clicks": 6}, {"name": "desktop", "clicks": 1}]
    assert {row["name"] for row in stats["browsers"]} == {"Mobile Safari", "Chrome"}
    assert sum(row["clicks"] for row in stats["bots"]) == 3
    assert stats["all_time"] == {"clicks": 7, "bot_clicks": 3}

    window = operator.get("/api/links/stats-link/stats", {"from": "2020-01-01", "to": "2020-01-31"})
    assert window.json()["clicks"] == 0 and len(window.json()["per_day"]) == 31
    assert (
        operator.get(
            "/api/links/stats-link/stats", {"from": "2020-02-01", "to": "2020-01-01"}
        ).status_code
        == 400
    )
    assert operator.get("/api/links/stats-link/stats", {"from": "yesterday"}).status_code == 400
    assert operator.get("/api/links/none-such/stats").status_code == 404


def test_user_agents_are_classified():
    assert parse_user_agent(IPHONE).device_type == "mobile"
    assert parse_user_agent(IPHONE).os == "iOS"
    ipad = "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    assert parse_user_agent(ipad).device_type == "tablet"
    assert parse_user_agent(CHROME).browser_version.startswith("124")
    for bot in (GOOGLEBOT, "curl/8.5.0", "python-requests/2.32", "", "Slackbot-LinkExpanding 1.0"):
        assert parse_user_agent(bot).is_bot, bot
        assert parse_user_agent(bot).device_type == "bot"


@pytest.mark.django_db(transaction=True)
def test_a_batch_written_twice_is_stored_once(client):
    """A writer that died after its commit but before trimming the queue: the next one
    writes the same entries again, and the click ids make that a no-op."""
    link = make_link(slug="twice")
    for _ in range(3):
        visit(client, "/l/twice")
    queue = links_cache.clicks_key()
    batch = links_cache.client().lrange(queue, 0, -1)
    assert clicks.store_batch(batch) == (3, 0)  # written, then "crashed" before the trim
    assert write_clicks().written == 0  # the next writer finds the same three: no-op
    assert LinkClick.objects.count() == 3 and clicks.pending_clicks() == 0
    link.refresh_from_db()
    assert link.clicks == 3


@pytest.mark.django_db(transaction=True)
def test_one_writer_at_a_time_and_big_queues_go_in_batches(client):
    make_link(slug="batch")
    for index in range(7):
        visit(client, "/l/batch", ip=f"10.0.0.{index}")
    links_cache.client().rpush(links_cache.clicks_key(), b"not json")
    links_cache.client().set(links_cache.writer_lock_key(), "someone-else", px=5000)
    assert write_clicks().busy is True and clicks.pending_clicks() == 8
    links_cache.client().delete(links_cache.writer_lock_key())
    summary = write_clicks(batch_size=3)
    assert (summary.written, summary.batches, summary.skipped) == (7, 3, 1)
    assert clicks.pending_clicks() == 0


@pytest.mark.django_db(transaction=True)
def test_clicks_of_a_deleted_link_are_dropped_by_the_writer(client):
    link = make_link(slug="deleted")
    visit(client, "/l/deleted")
    link.delete()
    summary = write_clicks()
    assert (summary.written, summary.skipped) == (0, 1) and clicks.pending_clicks() == 0


@pytest.mark.django_db(transaction=True)
def test_with_redis_unreachable_the_redirect_still_counts_the_click(client, settings):
    make_link(slug="no-redis")
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = visit(client, "/l/no-redis")
    assert response.status_code == 302
    assert LinkClick.objects.filter(link__short_id="no-redis").count() == 1


@pytest.mark.django_db
def test_visitor_hashes_rotate_daily_unless_told_otherwise(settings):
    day1, day2 = 1_767_225_600.0, 1_767_312_000.0  # two UTC midnights
    assert clicks.visitor_hash("1.2.3.4", day1) == clicks.visitor_hash("1.2.3.4", day1 + 3600)
    assert clicks.visitor_hash("1.2.3.4", day1) != clicks.visitor_hash("1.2.3.4", day2)
    assert clicks.visitor_hash("1.2.3.4", day1) != clicks.visitor_hash("1.2.3.5", day1)
    settings.LINK_VISITOR_SALT_ROTATION = "never"
    assert clicks.visitor_hash("1.2.3.4", day1) == clicks.visitor_hash("1.2.3.4", day2)
    hash_before = clicks.visitor_hash("1.2.3.4", day1)
    settings.LINK_VISITOR_SALT = "another-salt"
    assert clicks.visitor_hash("1.2.3.4", day1) != hash_before


# --- the ASGI fast path ------------------------------------------------------------------


def run_asgi(app, path, *, host=b"testserver", method="GET"):
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(b"host", host), (b"user-agent", CHROME.encode())],
        "client": ("203.0.113.50", 5555),
    }

    async def run():
        communicator = ApplicationCommunicator(app, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        await communicator.receive_output(5)
        await communicator.wait(1)
        return start

    return asyncio.run(run())


class Inner:
    def __init__(self):
        self.calls = []

    async def __call__(self, scope, receive, send):
        self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_answers_cached_hits_and_passes_everything_else_on(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    make_link(slug="fast", utm_source="qr")
    make_link(slug="fast-old", expires_at=timezone.now() - timedelta(seconds=1))
    links_cache.store(
        "fast-old", "https://shop.example.com/", timezone.now() - timedelta(seconds=1)
    )
    inner = Inner()
    app = links_fast_path(inner)

    hit = run_asgi(app, "/l/FAST")
    headers = dict(hit["headers"])
    assert hit["status"] == 302 and inner.calls == []
    assert headers[b"location"] == b"https://shop.example.com/tickets?utm_source=qr"
    assert headers[b"cache-control"] == b"private, max-age=0"
    assert headers[b"x-robots-tag"] == b"noindex"
    assert run_asgi(app, "/api/v1/links/fast/redirect")["status"] == 302
    assert clicks.pending_clicks() == 2

    for path, kwargs in [
        ("/l/unknown", {}),  # not cached: Django decides
        ("/l/fast-old", {}),  # expired: Django answers 410 or the expiry URL
        ("/l/fast", {"host": b"evil.example"}),  # Host not allowed: Django's 400
        ("/l/fast", {"method": "HEAD"}),
        ("/api/links/fast", {}),  # the API, not a redirect
    ]:
        assert run_asgi(app, path, **kwargs)["status"] == 299, path
    assert len(inner.calls) == 5 and clicks.pending_clicks() == 2
    assert write_clicks().written == 2


@pytest.mark.django_db
def test_the_admin_shows_links_with_their_click_chart(client, make_user):
    link = make_link(slug="admin-chart")
    LinkClick.objects.create(
        id="00000000-0000-0000-0000-000000000001",
        link=link,
        clicked_at=timezone.now(),
        device_type="desktop",
        visitor="x" * 32,
    )
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    assert "admin-chart" in client.get("/admin/codes/link/").content.decode()
    page = client.get(f"/admin/codes/link/{link.pk}/change/").content.decode()
    assert 'class="link-click-chart"' in page and ": 1 clicks, 0 bots" in page
    assert client.get("/admin/codes/linkclick/").status_code == 200
