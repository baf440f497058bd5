"""Shared fixtures of the outbound webhooks: a loopback receiver and webhook rows. Registered
once for the whole suite by the root conftest.py (`pytest_plugins`)."""

import pytest

from webhook.testing.receiver import Receiver


@pytest.fixture
def receiver():
    """A `Receiver` listening on 127.0.0.1 for the test (`.url`, `.requests`, `.script()`)."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_webhook(db):
    """`make_webhook(url, **fields)` → a saved Webhook subscribed to every event type unless
    `event_types` is given."""
    from webhook.models import EventType, Webhook

    def make(url, **fields):
        fields.setdefault("event_types", list(EventType.values))
        return Webhook.objects.create(url=url, **fields)

    return make
