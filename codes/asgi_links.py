"""The redirect fast path: short-link hits answered before Django, in one Redis round trip.

Django's ASGI handler costs several thread hand-offs per request (its sync middleware and
signal receivers run in a thread): on a loaded 2-core machine that caps a redirect at a few
hundred a second. Redirects are the platform's one high-volume public path, so GET
/l/<id> and /api/links/<id>/redirect (and /api/v1/...) are answered here when the link's
record is cached and not expired: the visit script returns the destination and queues the
click in the same call. Everything else (a miss, an expired or unknown link, a disallowed
Host, Redis down, HEAD) goes on to Django, whose view (codes.views_links.redirect_link)
answers exactly the same way from the database. Mounted in config/asgi.py.
"""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from codes.services import clicks, links_cache

logger = logging.getLogger(__name__)

_PATHS = (
    re.compile(r"^/l/(?P<short_id>[A-Za-z0-9_-]{1,64})/?$"),
    re.compile(r"^/api(?:/v1)?/links/(?P<short_id>[A-Za-z0-9_-]{1,64})/redirect/?$"),
)
#: Headers of every redirect (the Django view sends the same ones).
REDIRECT_HEADERS = {
    "Cache-Control": "private, max-age=0",
    "X-Robots-Tag": "noindex",
}
_STATIC_HEADERS = [
    (b"cache-control", b"private, max-age=0"),
    (b"x-robots-tag", b"noindex"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-length", b"0"),
]


def match_short_id(path: str) -> str | None:
    for pattern in _PATHS:
        found = pattern.match(path)
        if found:
            return found["short_id"]
    return None


def _allowed_hosts() -> list[str]:
    hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not hosts:
        return [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _headers(scope) -> dict[bytes, bytes]:
    return dict(scope.get("headers") or ())


async def fast_redirect_location(scope) -> str | None:
    """The destination when this request can be answered here, its click queued; None to
    hand the request to Django."""
    short_id = match_short_id(scope.get("path", ""))
    if short_id is None:
        return None
    headers = _headers(scope)
    domain, _port = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None  # Django answers 400
    now = time.time()
    client = scope.get("client") or ("", 0)
    click = clicks.click_payload(
        short_id,
        ip=client[0] or "",
        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        referrer=headers.get(b"referer", b"").decode("latin-1"),
        now=now,
    )
    try:
        record = await links_cache.avisit(short_id, click, now)
    except Exception as exc:  # noqa: BLE001 - Django's path handles it (and says why)
        logger.warning("link fast path unavailable (%s): handing over to Django", exc)
        return None
    if record is None or record.expired(now):
        return None
    return record.location


def links_fast_path(app):
    """Wrap an ASGI app: cached short-link hits are answered here, the rest passes on."""

    async def application(scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "GET":
            location = await fast_redirect_location(scope)
            if location is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 302,
                        "headers": [(b"location", location.encode("latin-1")), *_STATIC_HEADERS],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    return application
