"""Rate limits on Redis, shared by every web process: per-user budgets for the API, stricter
named budgets for expensive endpoints, and the brute-force guards of login and registration.

Budgets are `API_RATE_LIMITS` (settings, from the environment): scope -> "N/period", e.g.
`"user": "600/min"` (every authenticated request), `"uploads": "30/min"`. A view opts into a
stricter scope with `throttle_scope = "uploads"`, a viewset per action with
`throttle_scopes = {"retry": "bulk"}` (like `action_roles`); its requests then count against
both budgets. A refused request is a 429 in the standard error shape with `Retry-After`.

The algorithm is GCRA (a token bucket kept as one timestamp per key): a client may spend
its whole budget at once, which then refills steadily (600/min: one request every 100 ms).
Each check is one Lua script, atomic in Redis, using Redis's clock, so concurrent requests in
any number of processes never overspend a budget (DRF's SimpleRateThrottle reads, then
writes its cache entry: two processes can both pass). If Redis cannot be reached the request
is let through (logged): rate limits protect the service, they must not take it down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

UNLIMITED = frozenset({"", "off", "none", "unlimited"})
_RATE_RE = re.compile(
    r"^\s*(?P<requests>\d+)\s*/\s*(?P<count>\d*)\s*"
    r"(?P<unit>s|sec|second|m|min|minute|h|hour|d|day)s?\s*$"
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    requests: int
    period: float  # seconds

    def __str__(self) -> str:
        return f"{self.requests}/{self.period:g}s"


def parse_rate(text: str | None) -> Rate | None:
    """`"600/min"`, `"10/5min"`, `"1000/hour"`, `"20/s"` -> Rate; `"off"` -> None (unlimited).

    Raises ValueError for anything else.
    """
    if text is None or text.strip().lower() in UNLIMITED:
        return None
    match = _RATE_RE.match(text.lower())
    if not match or int(match["requests"]) < 1 or match["count"] == "0":
        raise ValueError(
            f"{text!r} is not a rate: write requests/period, e.g. 600/min, 10/5min, 1000/hour, "
            "or off."
        )
    period = int(match["count"] or 1) * _UNIT_SECONDS[match["unit"][0]]
    return Rate(int(match["requests"]), float(period))


def configured_rate(scope: str) -> Rate | None:
    """The budget of `scope` from API_RATE_LIMITS (None: unlimited)."""
    try:
        text = settings.API_RATE_LIMITS[scope]
    except KeyError:
        raise ImproperlyConfigured(
            f"Rate limit scope '{scope}' is not configured: add it to API_RATE_LIMITS."
        ) from None
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"API_RATE_LIMITS['{scope}']: {exc}") from None


@register()
def check_rate_limits(app_configs, **kwargs):
    """Start-up check: every configured budget is a rate (a typo must not wait for a request)."""
    errors = []
    for scope, text in settings.API_RATE_LIMITS.items():
        try:
            parse_rate(text)
        except ValueError as exc:
            errors.append(Error(f"API_RATE_LIMITS['{scope}']: {exc}", id="core.E001"))
    return errors


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a refused request would be accepted
    remaining: int


# GCRA. KEYS[1]: the bucket; ARGV[1]: microseconds per request; ARGV[2]: burst (requests).
# The key holds the "theoretical arrival time" (µs, Redis clock): the budget is spent while
# it runs ahead of now by more than the whole period.
_GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, allow_at - now, 0}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0, math.floor((now - allow_at) / interval)}
"""


class RedisRateLimiter:
    """Atomic rate checks on Redis: `hit(key, rate)` spends one request of `key`'s budget."""

    def __init__(self, client: redis.Redis, prefix: str):
        self.prefix = prefix
        self._script = client.register_script(_GCRA_SCRIPT)

    def hit(self, key: str, rate: Rate) -> Decision:
        interval = max(1, round(rate.period * 1_000_000 / rate.requests))
        allowed, wait_us, remaining = self._script(
            keys=[f"{self.prefix}:{key}"], args=[interval, rate.requests]
        )
        return Decision(bool(allowed), wait_us / 1_000_000, int(remaining))


_limiters: dict[tuple[str, str], RedisRateLimiter] = {}
_limiters_lock = threading.Lock()


def rate_limiter() -> RedisRateLimiter:
    """The process's limiter for the configured Redis and key prefix (one connection pool,
    created on first use)."""
    url, prefix = settings.REDIS_URL, settings.API_RATE_LIMIT_KEY_PREFIX
    with _limiters_lock:
        limiter = _limiters.get((url, prefix))
        if limiter is None:
            options = {"socket_timeout": 2, "socket_connect_timeout": 2}
            if settings.REDIS_USES_TLS:
                options["ssl_cert_reqs"] = settings.REDIS_SSL_CERT_REQS
            _limiters.clear()  # settings changed (tests): the old pool is not needed
            limiter = RedisRateLimiter(redis.Redis.from_url(url, **options), prefix)
            _limiters[(url, prefix)] = limiter
        return limiter


class RedisRateThrottle(BaseThrottle):
    """A DRF throttle on the shared limiter: subclasses say which budget (`get_scope`) a
    request spends and whose it is (`get_ident_key`; None: the request is not limited)."""

    scope: str | None = None

    def __init__(self):
        self._wait: float | None = None

    def get_scope(self, request, view) -> str | None:
        return self.scope

    def get_ident_key(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        scope = self.get_scope(request, view)
        if not scope:
            return True
        rate = configured_rate(scope)
        ident = self.get_ident_key(request, view) if rate is not None else None
        if ident is None:
            return True
        try:
            decision = rate_limiter().hit(f"{scope}:{ident}", rate)
        except redis.RedisError as exc:
            logger.warning("rate limit %s not checked (Redis: %s); request allowed", scope, exc)
            return True
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait else None


def _user_key(request) -> str | None:
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else None


class UserRateThrottle(RedisRateThrottle):
    """Every authenticated request spends the user's `user` budget (API_RATE_LIMIT)."""

    scope = "user"

    def get_ident_key(self, request, view):
        return _user_key(request)


def view_throttle_scope(view) -> str | None:
    """The named budget a view (or the current action of a viewset) spends, if any."""
    per_action = getattr(view, "throttle_scopes", None) or {}
    return per_action.get(getattr(view, "action", None)) or getattr(view, "throttle_scope", None)


class ScopedUserRateThrottle(RedisRateThrottle):
    """Requests to a view with `throttle_scope` (or `throttle_scopes` for its action) also
    spend the user's budget of that scope."""

    def get_scope(self, request, view):
        return view_throttle_scope(view)

    def get_ident_key(self, request, view):
        return _user_key(request)


class LoginIPThrottle(RedisRateThrottle):
    """Login attempts per client address (behind proxies: see DRF's NUM_PROXIES)."""

    scope = "login_ip"

    def get_ident_key(self, request, view):
        return f"ip:{self.get_ident(request)}"


class LoginEmailThrottle(RedisRateThrottle):
    """Login attempts per target account, whatever address they come from."""

    scope = "login_email"

    def get_ident_key(self, request, view):
        email = request.data.get("email") if isinstance(request.data, dict) else None
        if not isinstance(email, str) or not email:
            return None
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"email:{digest}"


class RegisterThrottle(LoginIPThrottle):
    scope = "register"
