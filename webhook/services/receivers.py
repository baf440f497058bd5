"""Receivers: how each sending system proves who it is and names its events.

A receiver view authenticates the request here, then hands the event to
`webhook.services.inbox.receive_event`. Make.com (seed 003) sends a shared token in the
`x-make-token` header and names its events in the body (`event_id`, `event_type`).
"""

from __future__ import annotations

import hmac

from django.conf import settings

from webhook.exceptions import InboundNotConfigured, InboundPayloadTooLarge, InboundUnauthorized

MAKE_SOURCE = "make"
MAKE_TOKEN_HEADER = "x-make-token"  # noqa: S105 - a header name, not a secret


def authenticate_make(token: str | None) -> None:
    """Accept the request only if `token` (the x-make-token header) equals MAKE_TOKEN.

    Compared in constant time, as bytes (a non-ASCII header must not raise). Without a
    configured token nothing is accepted: 503, so the misconfiguration is visible at once.
    """
    expected = settings.MAKE_TOKEN
    if not expected:
        raise InboundNotConfigured(
            "The Make.com receiver is not configured: set MAKE_TOKEN on the platform."
        )
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise InboundUnauthorized(f"Missing or wrong {MAKE_TOKEN_HEADER} header.")


def check_body_size(declared_length: str | None, body: bytes | None = None) -> None:
    """413 for a body over INBOUND_WEBHOOK_MAX_BODY_BYTES: first on the declared length (before
    reading), then on the bytes actually read (a chunked body declares none)."""
    limit = settings.INBOUND_WEBHOOK_MAX_BODY_BYTES
    try:
        length = int(declared_length or 0)
    except ValueError:
        length = 0
    if body is not None:
        length = max(length, len(body))
    if length > limit:
        raise InboundPayloadTooLarge(
            f"The event body ({length} bytes) exceeds the limit of {limit} bytes."
        )
