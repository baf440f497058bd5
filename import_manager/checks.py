"""System checks: a mistyped network in the feed allow-list must stop start-up, not fail
every import from a URL later."""

from django.conf import settings
from django.core.checks import Error, register

from core.services.ssrf import invalid_networks


@register()
def check_allowed_private_networks(app_configs, **kwargs):
    return [
        Error(
            f"IMPORT_URL_ALLOWED_PRIVATE_NETWORKS holds '{value}', which is not a network.",
            hint="Use CIDR notation, e.g. 10.0.0.0/8 or fd00::/8.",
            id="import_manager.E001",
        )
        for value in invalid_networks(getattr(settings, "IMPORT_URL_ALLOWED_PRIVATE_NETWORKS", ()))
    ]
