"""Which browser origins may open a live stream (the WebSocket and the Socket.IO endpoint alike).

Allowed: the hosts in ALLOWED_HOSTS (any scheme and port, Django's `.example.com` patterns)
and the exact origins in CORS_ALLOWED_ORIGINS (the frontends already trusted to call the API
from elsewhere). With DEBUG and no ALLOWED_HOSTS, localhost.
"""

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator


def allowed_origin_patterns() -> list[str]:
    from django.conf import settings

    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return allowed_hosts + list(settings.CORS_ALLOWED_ORIGINS)


class BrowserOriginValidator(OriginValidator):
    """Checks the Origin of browser connections against `allowed_origin_patterns()` (read
    from the settings at each connection unless a fixed list is given).

    A browser always sends Origin, and that is where a cross-site page could ride on the
    session cookie. Clients that send none (scripts, the `websockets` library) must
    authenticate with a token anyway, so they are let through.
    """

    def __init__(self, application, allowed_origins: list[str] | None = None):
        super().__init__(application, allowed_origins)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)

    def validate_origin(self, parsed_origin):
        patterns = self.allowed_origins
        if patterns is None:
            patterns = allowed_origin_patterns()
        return any(
            pattern == "*" or self.match_allowed_origin(parsed_origin, pattern)
            for pattern in patterns
        )


def BrowserAllowedHostsOriginValidator(application):  # noqa: N802 - mirrors channels' API
    return BrowserOriginValidator(application)


def is_allowed_browser_origin(origin: str | None) -> bool:
    """The same rule for an Origin header value (None when the client sent none)."""
    return BrowserOriginValidator(None).valid_origin(
        urlparse(origin) if origin is not None else None
    )
