"""System checks: a mistyped network in the SSRF allow-list must stop start-up, not fail
every delivery later."""

from django.conf import settings
from django.core.checks import register

from core.services.ssrf import allow_list_errors


@register()
def check_allowed_private_networks(app_configs, **kwargs):
    values = settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS
    return allow_list_errors("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", values, "webhook.E001")
