"""Webhooks use the core SSRF guard (core/tests/test_ssrf.py) with their own allow-list."""

import pytest
from rest_framework.exceptions import ValidationError

from webhook.serializers import WebhookSerializer


def test_allow_list_comes_from_the_setting(settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(ValidationError, match="private, loopback or link-local"):
        WebhookSerializer().validate_url("http://127.0.0.1/")
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    assert WebhookSerializer().validate_url("http://127.0.0.1/") == "http://127.0.0.1/"
