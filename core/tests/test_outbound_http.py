"""The outbound HTTP client against a real server on 127.0.0.1: timeouts, retries that honour
Retry-After, nothing repeated that may have been carried out, call budgets on Redis, the
SSRF guard for user-supplied URLs."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from core.services.outbound_http import (
    OutboundCallFailed,
    OutboundClient,
    RetryPolicy,
    retry_after_seconds,
)
from core.services.ssrf import UnsafeURLError
from core.testing.http_server import Reply, ScriptedServer


@pytest.fixture
def server():
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


class Waits(list):
    """Records the client's sleeps instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


def client_for(server, waits, **options):
    options.setdefault("retry", RetryPolicy(attempts=4, backoff_base=0.01, backoff_max=0.05))
    return OutboundClient("test-remote", base_url=server.base_url, sleep=waits, **options)


def test_a_503_with_retry_after_is_retried_after_that_wait(server):
    server.script(Reply(503, headers={"Retry-After": "2"}), Reply(200, b'{"page": 1}'))
    waits = Waits()
    with client_for(server, waits) as client:
        response = client.get("/v1/products", params={"page": 1})
    assert response.status_code == 200 and response.json() == {"page": 1}
    assert waits == [2.0]
    assert [r.path for r in server.requests] == ["/v1/products?page=1"] * 2


def test_retry_after_as_an_http_date_and_backoff_without_it(server):
    later = datetime.now(UTC) + timedelta(seconds=30)
    response = httpx.Response(429, headers={"Retry-After": format_datetime(later, usegmt=True)})
    assert 28 <= retry_after_seconds(response) <= 30
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    server.script(Reply(502), Reply(504), Reply(200))
    waits = Waits()
    with client_for(server, waits) as client:
        assert client.get("/x").status_code == 200
    assert len(waits) == 2 and all(0 <= w <= 0.05 for w in waits)


def test_the_last_answer_is_returned_when_the_attempts_run_out(server):
    server.script(Reply(503))
    waits = Waits()
    with client_for(server, waits, retry=RetryPolicy(attempts=3, backoff_base=0.01)) as client:
        assert client.get("/x").status_code == 503
    assert len(server.requests) == 3 and len(waits) == 2


def test_a_retry_after_beyond_the_limit_ends_the_call_for_a_later_try(server):
    server.script(Reply(429, headers={"Retry-After": "3600"}))
    with client_for(server, Waits()) as client, pytest.raises(OutboundCallFailed) as failed:
        client.get("/x")
    assert "3600" in str(failed.value) and failed.value.response.status_code == 429
    assert failed.value.outcome_unknown is False


def test_answers_that_are_answers_are_not_retried(server):
    server.script(Reply(404, b'{"error": "no such product"}'), Reply(200))
    with client_for(server, Waits()) as client:
        assert client.get("/x").status_code == 404
    assert len(server.requests) == 1


def test_a_post_is_not_repeated_after_a_5xx_unless_marked_idempotent(server):
    server.script(Reply(503), Reply(503), Reply(201))
    with client_for(server, Waits()) as client:
        assert client.post("/orders", json={"sku": "A"}).status_code == 503
        assert len(server.requests) == 1
        response = client.post(
            "/orders", json={"sku": "A"}, headers={"Idempotency-Key": "k1"}, idempotent=True
        )
    assert response.status_code == 201 and len(server.requests) == 3


def test_a_429_is_retried_even_for_a_post_because_it_was_refused(server):
    server.script(Reply(429, headers={"Retry-After": "0"}), Reply(201))
    with client_for(server, Waits()) as client:
        assert client.post("/orders", json={}).status_code == 201


def test_a_lost_answer_to_a_post_is_an_unknown_outcome_never_repeated(server):
    server.script(Reply(drop=True), Reply(201))
    with client_for(server, Waits()) as client, pytest.raises(OutboundCallFailed) as failed:
        client.post("/orders", json={"sku": "A"})
    assert failed.value.outcome_unknown is True
    assert len(server.requests) == 1


def test_timeouts_are_explicit_and_retried_for_a_get(server):
    server.script(Reply(delay=0.5), Reply(200))
    waits = Waits()
    with client_for(server, waits, timeout=httpx.Timeout(0.2)) as client:
        assert client.get("/slow").status_code == 200
    assert len(waits) == 1


def test_an_unreachable_host_fails_after_the_attempts(server):
    port = server.port
    server.close()
    client = OutboundClient(
        "gone", base_url=f"http://127.0.0.1:{port}", sleep=Waits(), retry=RetryPolicy(attempts=2)
    )
    with client, pytest.raises(OutboundCallFailed, match="failed 2 times"):
        client.post("/orders", json={})  # never sent: safe to try again, even a POST


def test_the_call_budget_is_shared_through_redis(server, settings):
    settings.API_RATE_LIMIT_KEY_PREFIX = f"test-outbound-{server.port}"
    waits = Waits()
    first = client_for(server, waits, budget="2/min")
    second = client_for(server, waits, budget="2/min")  # another process, the same remote
    with first, second:
        first.get("/a")
        second.get("/b")
        assert waits == []
        # The budget is spent: the next call waits for it (the fake sleep returns at once,
        # so the call asks again until the budget's clock has moved past the wait).
        settings_wait = []

        def sleep_then_allow(seconds):
            settings_wait.append(seconds)
            settings.API_RATE_LIMIT_KEY_PREFIX = f"test-outbound-{server.port}-refilled"

        second._sleep = sleep_then_allow
        second.get("/c")
    assert len(settings_wait) == 1 and 0 < settings_wait[0] <= 30
    assert len(server.requests) == 3


def test_user_supplied_urls_are_checked_on_every_call(server, settings):
    client = OutboundClient("scrape", user_supplied_urls=True, sleep=Waits())
    with client, pytest.raises(UnsafeURLError, match="non-public"):
        client.get(server.url)
    assert server.requests == []
    allowed = OutboundClient(
        "scrape", user_supplied_urls=True, allowed_networks=["127.0.0.0/8"], sleep=Waits()
    )
    with allowed:
        assert allowed.get(server.url + "?q=1").status_code == 200
    assert server.requests[0].path == "/?q=1"
    assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"
