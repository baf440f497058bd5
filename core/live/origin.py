from channels.security.websocket import OriginValidator


class BrowserOriginValidator(OriginValidator):
    """Checks the Origin of browser connections against ALLOWED_HOSTS.

    A browser always sends Origin, and that is where a cross-site page could ride on the
    session cookie. Clients that send none (scripts, the `websockets` library) must
    authenticate with a token anyway, so they are let through.
    """

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def BrowserAllowedHostsOriginValidator(application):  # noqa: N802 - mirrors channels' API
    from django.conf import settings

    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
