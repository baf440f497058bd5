"""System checks of core's settings."""

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from core.services import field_encryption


@register()
def check_field_encryption_keys(app_configs, **kwargs):
    try:
        field_encryption.check_keys()
    except ImproperlyConfigured as error:
        return [Error(str(error), id="core.E010")]
    return []


@register(deploy=True)
def check_field_encryption_keys_set(app_configs, **kwargs):
    if settings.FIELD_ENCRYPTION_KEYS:
        return []
    return [
        Warning(
            "FIELD_ENCRYPTION_KEYS is not set: stored secrets are encrypted with a key derived "
            "from SECRET_KEY, so changing SECRET_KEY makes them unreadable.",
            hint="Set FIELD_ENCRYPTION_KEYS to a Fernet key of its own.",
            id="core.W010",
        )
    ]
