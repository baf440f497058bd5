"""Per-user rate limits on the real Redis (core.throttles): budgets, named scopes, 429 with
Retry-After, isolation between users, and one budget shared by every process."""

import subprocess
import sys
import textwrap
import threading
import time
import uuid

import httpx
import pytest
import redis
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework_simplejwt.tokens import RefreshToken

from core.models import JobStatus
from core.testing.helpers import make_job
from core.throttles import (
    Rate,
    RedisRateLimiter,
    check_rate_limits,
    configured_rate,
    parse_rate,
    view_throttle_scope,
)
from devtools.stack import child_env, free_port, start_asgi

pytestmark = pytest.mark.django_db


@pytest.fixture
def budgets(settings):
    """`budgets(user="3/min", bulk="1/min")`: lower (or raise) budgets for one test."""

    def set_budgets(**rates):
        settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, **rates}

    return set_budgets


def redis_client():
    return redis.Redis.from_url(django_settings.REDIS_URL)


# --- Rates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("600/min", Rate(600, 60)),
        ("600/minute", Rate(600, 60)),
        ("10/5min", Rate(10, 300)),
        ("20/s", Rate(20, 1)),
        ("1000/hour", Rate(1000, 3600)),
        ("5000 / day", Rate(5000, 86400)),
        ("2/2hours", Rate(2, 7200)),
        ("off", None),
        ("", None),
    ],
)
def test_rates_are_written_requests_per_period(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["600", "0/min", "ten/min", "5/0min", "5/fortnight", "-1/s"])
def test_anything_else_is_not_a_rate(text):
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate(text)


def test_a_mistyped_budget_stops_start_up_and_an_unknown_scope_is_a_configuration_error(
    budgets, settings
):
    assert check_rate_limits(None) == []
    budgets(bulk="twenty a minute")
    errors = check_rate_limits(None)
    assert [error.id for error in errors] == ["core.E001"]
    assert "API_RATE_LIMITS['bulk']" in errors[0].msg
    with pytest.raises(ImproperlyConfigured, match="'nonsense' is not configured"):
        configured_rate("nonsense")


def test_every_scope_a_view_names_has_a_budget():
    scopes = {}

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = pattern.callback
                view_class = getattr(view, "cls", None)
                if view_class is None:
                    continue
                named = set(getattr(view_class, "throttle_scopes", {}).values())
                named.add(getattr(view_class, "throttle_scope", None))
                named.add((getattr(view, "initkwargs", None) or {}).get("throttle_scope"))
                for scope in named - {None}:
                    scopes.setdefault(scope, view_class.__name__)

    walk(get_resolver().url_patterns)
    assert {"uploads", "bulk"} <= set(scopes)
    for scope in scopes:
        configured_rate(scope)  # raises for a scope without a budget


# --- The default budget ---------------------------------------------------------------------


def test_a_user_over_budget_gets_429_with_retry_after_in_the_error_shape(client_for, budgets):
    budgets(user="3/min")
    client = client_for("viewer")
    assert [client.get("/api/jobs/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/auth/profile")  # every endpoint spends the same budget
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "code": "throttled",
            "message": "Request was throttled. Expected available in 20 seconds.",
        }
    }
    assert refused["Retry-After"] == "20"  # 3/min refills one request every 20 s


def test_budgets_are_per_user(client_for, budgets):
    budgets(user="2/min")
    alice = client_for("viewer")
    bob = client_for("viewer")
    assert [alice.get("/api/jobs/").status_code for _ in range(3)] == [200, 200, 429]
    assert [bob.get("/api/jobs/").status_code for _ in range(2)] == [200, 200]
    assert alice.get("/api/jobs/").status_code == 429


def test_a_spent_budget_refills_steadily(client_for, budgets):
    budgets(user="4/s")  # one request every 250 ms
    client = client_for("viewer")
    assert [client.get("/api/jobs/").status_code for _ in range(4)] == [200] * 4
    refused = client.get("/api/jobs/")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    time.sleep(0.3)
    assert client.get("/api/jobs/").status_code == 200


def test_the_budget_is_also_spent_under_api_v1(client_for, budgets):
    budgets(user="2/min")
    client = client_for("viewer")
    assert client.get("/api/jobs/").status_code == 200
    assert client.get("/api/v1/jobs/").status_code == 200
    assert client.get("/api/v1/jobs/").status_code == 429


def test_anonymous_requests_are_refused_by_authentication_not_by_the_user_budget(
    api_client, budgets
):
    budgets(user="1/min")
    assert {api_client.get("/api/jobs/").status_code for _ in range(3)} == {401}


def test_an_unlimited_budget_never_refuses(client_for, budgets):
    budgets(user="off")
    client = client_for("viewer")
    assert {client.get("/api/jobs/").status_code for _ in range(30)} == {200}


def test_requests_pass_when_redis_is_unreachable(client_for, budgets, settings, caplog):
    budgets(user="1/min")
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    client = client_for("viewer")
    assert [client.get("/api/jobs/").status_code for _ in range(2)] == [200, 200]
    assert "rate limit user not checked" in caplog.text


# --- Named scopes -----------------------------------------------------------------------------


def test_a_view_names_its_scope_with_throttle_scope_or_per_action_throttle_scopes():
    class Upload:
        throttle_scope = "uploads"

    class Jobs:
        throttle_scopes = {"retry": "bulk"}
        action = "retry"

    listing = Jobs()
    listing.action = "list"
    assert view_throttle_scope(Upload()) == "uploads"
    assert view_throttle_scope(Jobs()) == "bulk"
    assert view_throttle_scope(listing) is None


EXPENSIVE = [
    ("operator", "post", "/api/imports/from-url", {"url": "http://127.0.0.1:9/feed.csv"}),
    ("operator", "post", "/api/upload", None),
    ("operator", "post", "/api/scripts/execute", {"script_name": "nope", "parameters": []}),
    ("admin", "delete", "/api/products/bulk-delete/?confirm=true", None),
    ("operator", "post", "/api/products/bulk-price-update", {"mode": "percent", "value": "1"}),
    ("operator", "post", "/api/jobs/diagnostics", {"lines": 1}),
]


@pytest.mark.parametrize(("role", "method", "path", "body"), EXPENSIVE)
def test_expensive_endpoints_spend_their_stricter_budget(
    client_for, budgets, role, method, path, body
):
    budgets(uploads="1/min", bulk="1/min")
    client = client_for(role)
    first = getattr(client, method)(path, body, format="json")
    assert first.status_code != 429, first.content
    second = getattr(client, method)(path, body, format="json")
    assert second.status_code == 429, second.content
    assert int(second["Retry-After"]) == 60
    # The default budget is not spent yet: other endpoints still answer.
    assert client.get("/api/jobs/").status_code == 200


def test_job_retries_spend_the_bulk_budget(client_for, budgets, django_capture_on_commit_callbacks):
    budgets(bulk="2/min")
    client = client_for("operator")
    job = make_job(owner=client.user, status=JobStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=False):
        codes = [client.post(f"/api/jobs/{job.pk}/retry").status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert client.get(f"/api/jobs/{job.pk}/").status_code == 200


# --- Atomic across threads and processes ------------------------------------------------------


def test_concurrent_requests_never_overspend_a_budget():
    limiter = RedisRateLimiter(redis_client(), f"{django_settings.API_RATE_LIMIT_KEY_PREFIX}:t")
    key, rate = f"threads:{uuid.uuid4()}", Rate(50, 60)
    allowed = []
    start = threading.Barrier(8)

    def spend():
        start.wait()
        allowed.extend(limiter.hit(key, rate).allowed for _ in range(25))

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(allowed) == 200
    assert sum(allowed) == 50


CHILD = textwrap.dedent(
    """
    import sys, time
    import redis
    from core.throttles import Rate, RedisRateLimiter

    url, prefix, key, start_at = sys.argv[1:5]
    limiter = RedisRateLimiter(redis.Redis.from_url(url), prefix)
    while time.time() < float(start_at):
        time.sleep(0.001)
    print(sum(limiter.hit(key, Rate(60, 60)).allowed for _ in range(40)))
    """
)


def test_processes_share_one_budget():
    key, start_at = f"processes:{uuid.uuid4()}", time.time() + 2.0
    prefix = f"{django_settings.API_RATE_LIMIT_KEY_PREFIX}:t"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, django_settings.REDIS_URL, prefix, key, str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    counts = [int(child.communicate(timeout=60)[0]) for child in children]
    assert sum(counts) == 60  # 160 attempts in four processes, a budget of 60


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_web_server_and_another_client_spend_one_users_budget(make_user, tmp_path, budgets):
    """Two clients of one user, one through a real uvicorn process and one in this process:
    the budget is one, in Redis."""
    budgets(user="5/min")
    env = {**child_env(), "API_RATE_LIMIT": "5/min"}
    server = start_asgi(env, tmp_path / "uvicorn.log")
    try:
        user = make_user("viewer")
        token = str(RefreshToken.for_user(user).access_token)
        headers = {"Authorization": f"Bearer {token}"}
        remote = [
            httpx.get(f"{server.base_url}/api/jobs/", headers=headers, timeout=10).status_code
            for _ in range(3)
        ]
        from rest_framework.test import APIClient

        local = APIClient()
        local.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        here = [local.get("/api/jobs/").status_code for _ in range(2)]
        assert remote + here == [200] * 5
        refused = httpx.get(f"{server.base_url}/api/jobs/", headers=headers, timeout=10)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) == 12
        assert local.get("/api/jobs/").status_code == 429
        other = make_user("viewer")
        other_token = str(RefreshToken.for_user(other).access_token)
        fresh = httpx.get(
            f"{server.base_url}/api/jobs/",
            headers={"Authorization": f"Bearer {other_token}"},
            timeout=10,
        )
        assert fresh.status_code == 200
    finally:
        server.stop()
