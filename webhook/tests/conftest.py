"""What only the webhook tests need: captured Celery publishing for in-process tests and
settings for fast retries. (`receiver` and `make_webhook` are shared: webhook.testing.fixtures.)"""

import os

import pytest

# Read by config/settings.py in the Celery worker the e2e tests start (conftest's
# devtools.stack.child_env() copies os.environ): receivers live on loopback, retries must be quick.
# Set at import time, i.e. during collection, before any session worker starts.
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "1")
os.environ.setdefault("WEBHOOK_RETRY_BASE_DELAY", "0.1")
os.environ.setdefault("WEBHOOK_RETRY_BACKOFF_FACTOR", "2")
os.environ.setdefault("WEBHOOK_MAX_ATTEMPTS", "4")

LOOPBACK = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    """In-process settings (already loaded before this file): loopback allowed, tiny delays."""
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = LOOPBACK
    settings.WEBHOOK_RETRY_BASE_DELAY = 0.01
    settings.WEBHOOK_RETRY_BACKOFF_FACTOR = 2.0
    settings.WEBHOOK_RETRY_MAX_DELAY = 60.0
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    return settings


@pytest.fixture(autouse=True)
def published(request, monkeypatch):
    """Celery messages the services publish, as [(delivery_id, countdown)].

    In-process tests never talk to the broker: a session worker started by another test
    would otherwise race them for the same rows. e2e tests publish for real.
    """
    calls: list[tuple[int, float]] = []
    if request.node.get_closest_marker("e2e") is None:
        from webhook.services import delivery

        monkeypatch.setattr(
            delivery,
            "_publish",
            lambda delivery_id, countdown: calls.append((delivery_id, countdown)),
        )
    return calls
