"""The webhook app's settings, read with defaults so the app works before config/ knows it.

The values live in config/settings.py under "# --- Webhooks"; see there for what each means.
"""

from django.conf import settings

#: The Celery queue that carries every outbound HTTP call of this app.
WEBHOOK_QUEUE = "webhooks"

_DEFAULTS = {
    "WEBHOOK_ALLOWED_PRIVATE_NETWORKS": [],
    "WEBHOOK_MAX_ATTEMPTS": 8,
    "WEBHOOK_RETRY_BASE_DELAY": 10.0,
    "WEBHOOK_RETRY_BACKOFF_FACTOR": 4.0,
    "WEBHOOK_RETRY_MAX_DELAY": 3000.0,
    "WEBHOOK_RESPONSE_EXCERPT_BYTES": 2048,
    "WEBHOOK_DELIVERY_RETENTION_DAYS": 30,
    "WEBHOOK_REQUEUE_AFTER_SECONDS": 300,
    # Inbound (webhook.services.inbox, webhook.services.receivers)
    "MAKE_TOKEN": "",
    "INBOUND_WEBHOOK_MAX_BODY_BYTES": 256 * 1024,
}


def get(name: str):
    """The current value of a webhook setting (read on every call: tests override them)."""
    return getattr(settings, name, _DEFAULTS[name])
