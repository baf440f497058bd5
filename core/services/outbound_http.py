"""Calls to other systems (supplier APIs, AI providers, stores, scraped sites): one client
with the habits every such call needs, so no app re-invents them.

- explicit timeouts (httpx; no call waits forever);
- retries with exponential backoff and full jitter on connection errors and timeouts (only
  for requests that are safe to repeat: idempotent methods, or a request the caller marks
  `idempotent=True` because it carries an idempotency key), and on 429 / 502 / 503 / 504,
  honouring `Retry-After` (seconds or an HTTP date);
- a call budget per remote endpoint shared by every process (the Redis GCRA limiter of
  `core.throttles`), for the systems that publish limits ("2 calls/s per store");
- the SSRF guard (`core.services.ssrf`) for URLs a user supplied: every attempt resolves the
  host, refuses non-public addresses and connects to the checked address.

    client = OutboundClient("supplier-acme", base_url="https://api.acme.test",
                            budget="2/s", headers={"Authorization": f"Bearer {key}"})
    response = client.request("GET", "/v1/products", params={"page": 2})

Responses are returned as they came (the caller reads the status: 404 may be an answer); what
could not be obtained after the retries raises `OutboundCallFailed`, which says whether the
other side may have acted (`outcome_unknown`: a non-idempotent request whose answer was lost)
so the caller reconciles instead of repeating it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from core.exceptions import PlatformError
from core.logging import redact
from core.services import ssrf
from core.throttles import Rate, parse_rate, rate_limiter

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class OutboundCallFailed(PlatformError):
    """No usable answer after the retries. `outcome_unknown`: the request may have been
    acted on (it reached the other side, the answer was lost, and it was not safe to repeat)."""

    code = "outbound_call_failed"
    status = 502

    def __init__(self, message: str, *, outcome_unknown: bool = False, response=None):
        super().__init__(message)
        self.outcome_unknown = outcome_unknown
        self.response = response


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try. `max_wait` caps any one wait, `Retry-After` included:
    a longer `Retry-After` ends the call with OutboundCallFailed (a job should reschedule
    rather than hold its worker)."""

    attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    max_wait: float = 60.0
    retry_statuses: frozenset = field(default_factory=lambda: frozenset({429, 502, 503, 504}))

    def backoff(self, failures: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(failures-1))]."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (failures - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The wait a `Retry-After` header asks for (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class OutboundClient:
    """An httpx client for one remote system (`name` keys its call budget and its logs)."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str = "",
        headers: dict | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        budget: str | Rate | None = None,
        user_supplied_urls: bool = False,
        allowed_networks=(),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.name = name
        self.retry = retry or RetryPolicy()
        self.budget = parse_rate(budget) if isinstance(budget, str) else budget
        self.user_supplied_urls = user_supplied_urls
        self.allowed_networks = allowed_networks
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,  # a redirect to a private address must be re-checked
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, url: str, *, idempotent: bool | None = None, **kwargs):
        """Send with retries; returns the last response (whatever its status)."""
        method = method.upper()
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        failures = 0
        while True:
            self._spend_budget()
            try:
                response = self._send(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                failures += 1
                sent = not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
                if sent and not repeatable:
                    raise OutboundCallFailed(
                        f"{self.name}: no answer to {method} ({type(error).__name__}); it may "
                        "have been carried out, so it is not repeated.",
                        outcome_unknown=True,
                    ) from error
                if failures >= self.retry.attempts:
                    raise OutboundCallFailed(
                        f"{self.name}: {method} failed {failures} times ({type(error).__name__})."
                    ) from error
                self._wait(self.retry.backoff(failures), f"{type(error).__name__}")
                continue
            if response.status_code not in self.retry.retry_statuses or not (
                repeatable or response.status_code == 429  # 429: refused, not carried out
            ):
                return response
            failures += 1
            if failures >= self.retry.attempts:
                return response
            wait = retry_after_seconds(response)
            if wait is not None and wait > self.retry.max_wait:
                raise OutboundCallFailed(
                    f"{self.name}: asked to retry after {wait:.0f} s (more than "
                    f"{self.retry.max_wait:.0f} s); try again later.",
                    response=response,
                )
            self._wait(self.retry.backoff(failures) if wait is None else wait, response.status_code)

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    # -- internals ----------------------------------------------------------------------
    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        if not self.user_supplied_urls:
            return self._http.request(method, url, **kwargs)
        target = ssrf.assert_public_url(
            str(self._http.build_request(method, url).url), allowed_networks=self.allowed_networks
        )
        pinned = ssrf.pinned_request(target, target.addresses[0])
        headers = {**(kwargs.pop("headers", None) or {}), **pinned["headers"]}
        return self._http.request(
            method, pinned["url"], headers=headers, extensions=pinned["extensions"], **kwargs
        )

    def _spend_budget(self) -> None:
        if self.budget is None:
            return
        while True:
            decision = rate_limiter().hit(f"outbound:{self.name}", self.budget)
            if decision.allowed:
                return
            self._sleep(min(decision.retry_after, self.retry.max_wait))

    def _wait(self, seconds: float, why) -> None:
        logger.info("%s: retrying in %.2f s (%s)", self.name, seconds, redact(str(why)))
        self._sleep(seconds)
