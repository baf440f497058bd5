"""System checks: a mistyped network in the SSRF allow-list must stop start-up, not fail
every delivery later."""

from django.core.checks import Error, register

from core.services.ssrf import invalid_networks
from webhook import conf


@register()
def check_allowed_private_networks(app_configs, **kwargs):
    return [
        Error(
            f"WEBHOOK_ALLOWED_PRIVATE_NETWORKS holds '{value}', which is not a network.",
            hint="Use CIDR notation, e.g. 10.0.0.0/8 or fd00::/8.",
            id="webhook.E001",
        )
        for value in invalid_networks(conf.get("WEBHOOK_ALLOWED_PRIVATE_NETWORKS"))
    ]
