"""System checks: a mistyped network in the feed allow-list must stop start-up, not fail
every import from a URL later."""

from django.conf import settings
from django.core.checks import register

from core.services.ssrf import allow_list_errors


@register()
def check_allowed_private_networks(app_configs, **kwargs):
    values = settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS
    return allow_list_errors("IMPORT_URL_ALLOWED_PRIVATE_NETWORKS", values, "import_manager.E001")
