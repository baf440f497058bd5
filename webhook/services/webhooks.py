"""Webhook configuration services."""

import logging

from webhook.models import Webhook

from .signing import generate_secret

logger = logging.getLogger(__name__)


def rotate_secret(webhook: Webhook) -> Webhook:
    """Replace the signing secret; the new one is returned once, the old one stops working
    at once (receivers must switch over)."""
    webhook.secret = generate_secret()
    webhook.save(update_fields=["secret", "updated_at"])
    logger.info("webhook %s: signing secret rotated", webhook.pk)
    return webhook
