"""System checks: a mistyped network in the SSRF allow-list must stop start-up, not fail
every delivery later."""

import ipaddress

from django.core.checks import Error, register

from webhook import conf


@register()
def check_allowed_private_networks(app_configs, **kwargs):
    errors = []
    for value in conf.get("WEBHOOK_ALLOWED_PRIVATE_NETWORKS"):
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"WEBHOOK_ALLOWED_PRIVATE_NETWORKS holds '{value}', which is not a network.",
                    hint="Use CIDR notation, e.g. 10.0.0.0/8 or fd00::/8.",
                    id="webhook.E001",
                )
            )
    return errors
