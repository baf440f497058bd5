"""A small Shopify Admin GraphQL client (runs in the sandboxed child).

- Honours the cost-based throttle: it tracks the leaky bucket from each response's
  `extensions.cost.throttleStatus` and waits before a request that would not fit, so the
  server rarely has to refuse one; a THROTTLED error waits for the missing points and retries.
- Retries HTTP 429 (after Retry-After) and 5xx / transport errors with exponential backoff, up
  to `max_retries`; other 4xx fail at once (401/403: the token).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from scripts_runner.sandbox.runtime import ScriptError

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_THROTTLE_WAITS = 100
MAX_BACKOFF = 30.0


def shop_host(domain: str) -> str:
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def is_allowed_shop(domain: str) -> bool:
    """The token only ever goes to a *.myshopify.com shop, or a local test server."""
    host = shop_host(domain).lower()
    return host.endswith(".myshopify.com") or host in LOOPBACK_HOSTS


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    points_used: float = 0.0
    http_statuses: dict = field(default_factory=dict)


class ShopifyClient:
    def __init__(
        self,
        domain: str,
        token: str,
        api_version: str,
        *,
        max_retries: int = 5,
        timeout: float = 30.0,
        log: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not is_allowed_shop(domain):
            raise ScriptError(f"{domain} is not a *.myshopify.com shop.")
        # A local test server has no certificate; a real shop is only spoken to over HTTPS.
        scheme = "http" if shop_host(domain).lower() in LOOPBACK_HOSTS else "https"
        self.url = f"{scheme}://{domain}/admin/api/{api_version}/graphql.json"
        self.max_retries = max_retries
        self.log = log
        self.sleep = sleep
        self.stats = ClientStats()
        self._http = httpx.Client(
            timeout=timeout,
            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
            follow_redirects=False,
        )
        # The leaky bucket as last reported (None until the first response).
        self._available: float | None = None
        self._maximum = 1000.0
        self._restore_rate = 50.0
        self._seen_at = time.monotonic()

    def close(self) -> None:
        self._http.close()

    # -- throttle ------------------------------------------------------------------------
    def _budget(self) -> float | None:
        if self._available is None:
            return None
        elapsed = time.monotonic() - self._seen_at
        return min(self._maximum, self._available + elapsed * self._restore_rate)

    def _wait(self, seconds: float, why: str) -> None:
        seconds = max(0.0, seconds)
        if seconds:
            self.stats.waited_seconds += seconds
            self.log(f"waiting {seconds:.2f} s ({why})")
            self.sleep(seconds)

    def _wait_for_points(self, cost: float) -> None:
        available = self._budget()
        cost = min(cost, self._maximum)
        if available is not None and available < cost:
            self._wait(
                (cost - available) / self._restore_rate,
                f"query cost {cost:g}, {available:.0f} points available",
            )

    def _record_cost(self, cost: dict | None) -> None:
        status = (cost or {}).get("throttleStatus")
        if not status:
            return
        self._maximum = float(status.get("maximumAvailable", self._maximum))
        self._available = float(status.get("currentlyAvailable", self._maximum))
        self._restore_rate = float(status.get("restoreRate", self._restore_rate)) or 1.0
        self._seen_at = time.monotonic()
        self.stats.points_used += float(cost.get("actualQueryCost") or 0)

    # -- requests ------------------------------------------------------------------------
    def execute(self, query: str, variables: dict, *, cost: float) -> dict:
        """Run one GraphQL document; returns `data`. `cost` is the expected query cost."""
        failures = 0
        throttles = 0
        while True:
            self._wait_for_points(cost)
            self.stats.requests += 1
            try:
                response = self._http.post(self.url, json={"query": query, "variables": variables})
            except httpx.TransportError as exc:
                failures = self._retry(failures, f"{type(exc).__name__}: {exc}")
                continue
            status = response.status_code
            self.stats.http_statuses[status] = self.stats.http_statuses.get(status, 0) + 1
            if status == 429:
                retry_after = _seconds(response.headers.get("Retry-After"), 2.0**failures)
                failures = self._retry(failures, "HTTP 429 Too Many Requests", wait=retry_after)
                continue
            if status >= 500:
                failures = self._retry(failures, f"HTTP {status}")
                continue
            if status in (401, 403):
                raise ScriptError(f"Shopify refused the access token (HTTP {status}).")
            if status != 200:
                raise ScriptError(f"Shopify answered HTTP {status}: {response.text[:300]}")
            try:
                body = response.json()
            except ValueError:
                failures = self._retry(failures, "a response that is not JSON")
                continue
            self._record_cost((body.get("extensions") or {}).get("cost"))
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                throttles += 1
                self.stats.throttled += 1
                if throttles > MAX_THROTTLE_WAITS:
                    raise ScriptError("Shopify kept throttling; giving up.")
                needed = cost - (self._budget() or 0)
                self._wait(max(needed, 1.0) / self._restore_rate, "THROTTLED by Shopify")
                continue
            if errors:
                messages = "; ".join(str(e.get("message", e)) for e in errors)[:500]
                raise ScriptError(f"GraphQL error: {messages}")
            return body.get("data") or {}

    def _retry(self, failures: int, why: str, *, wait: float | None = None) -> int:
        failures += 1
        if failures > self.max_retries:
            raise ScriptError(f"Shopify request failed after {failures} attempts: {why}")
        self.stats.retries += 1
        delay = wait if wait is not None else min(MAX_BACKOFF, 0.5 * 2 ** (failures - 1))
        self._wait(delay, f"{why}; retry {failures}/{self.max_retries}")
        return failures


def _seconds(value: str | None, default: float) -> float:
    try:
        return min(MAX_BACKOFF, max(0.0, float(value)))
    except (TypeError, ValueError):
        return min(MAX_BACKOFF, default)


def sku_query(skus: list[str]) -> str:
    """Shopify search syntax for "any of these SKUs" (values quoted and escaped)."""
    return " OR ".join(f"sku:{json.dumps(sku)}" for sku in skus)
