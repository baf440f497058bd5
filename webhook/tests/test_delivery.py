"""Delivery services, in-process against a real HTTP receiver on 127.0.0.1.

`run_published` plays the worker: it attempts every delivery the services published.
"""

import json
import logging
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import ConflictError
from webhook.models import DeliveryStatus, EventType, WebhookDelivery
from webhook.services import delivery as delivery_service
from webhook.services.delivery import (
    attempt_delivery,
    maintain_deliveries,
    parse_retry_after,
    resend_delivery,
    retry_delay,
)
from webhook.services.events import emit_event
from webhook.testing.receiver import Reply

from .helpers import committed, run_published

pytestmark = pytest.mark.django_db

DATA = {"sku": "ABC-1", "price": "12.50"}


def attempts(webhook):
    return list(webhook.deliveries.order_by("attempt"))


def test_signed_delivery_arrives_and_verifies_with_the_secret(receiver, make_webhook, published):
    webhook = make_webhook(
        receiver.url, headers={"Authorization": "Bearer rcv-token", "X-Tenant": "acme"}
    )
    receiver.secret = webhook.secret

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    [row] = run_published(published)

    [request] = receiver.requests
    assert request.signature_valid is True
    assert request.path == "/hooks/catalog"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == row.message_id
    assert request.headers["authorization"] == "Bearer rcv-token"
    assert request.headers["x-tenant"] == "acme"
    payload = request.json()
    assert set(payload) == {"event_type", "timestamp", "data"}
    assert payload["event_type"] == "product.created"
    assert payload["data"] == DATA
    assert payload["timestamp"].endswith("Z")

    row.refresh_from_db()
    assert row.status == DeliveryStatus.SUCCEEDED
    assert row.response_status == 200
    assert row.response_excerpt == '{"ok": true}'
    assert row.duration_ms is not None and row.finished_at is not None
    assert row.request_body.encode() == request.body
    # The stored request headers are a log: credentials masked, signature kept for support.
    assert row.request_headers["Authorization"] == "********"
    assert row.request_headers["X-Tenant"] == "acme"
    assert row.request_headers["webhook-signature"] == request.headers["webhook-signature"]


def test_retry_on_500_then_success_keeps_the_message_id(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.secret = webhook.secret
    receiver.script(Reply(500, b"boom"), Reply(200))

    committed(emit_event, EventType.PRODUCT_UPDATED, DATA)
    first_id = published[0][0]
    run_published(published)

    first, second = attempts(webhook)
    assert first.pk == first_id
    assert (first.attempt, first.status, first.response_status) == (1, "retrying", 500)
    assert first.response_excerpt == "boom"
    assert first.error == "HTTP 500."
    assert (second.attempt, second.status, second.response_status) == (2, "succeeded", 200)
    assert second.scheduled_for > first.finished_at
    assert len(receiver.requests) == 2
    assert all(r.signature_valid for r in receiver.requests)
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {first.message_id} and first.message_id == second.message_id


def test_no_retry_on_400(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(400, b'{"error": "bad"}'))

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)

    [row] = attempts(webhook)
    assert row.status == DeliveryStatus.FAILED
    assert row.response_status == 400
    assert "not retried" in row.error
    assert len(receiver.requests) == 1
    assert published == []


def test_429_retry_after_is_honoured(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(429, b"slow down", {"Retry-After": "7"}), Reply(200))

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    delivery_id, _ = published.pop(0)
    committed(attempt_delivery, delivery_id)

    # Base delay is 0.01 s in tests: the countdown comes from Retry-After.
    [(next_id, countdown)] = published
    assert 7 <= countdown < 8
    first, second = attempts(webhook)
    assert first.status == DeliveryStatus.RETRYING and first.response_status == 429
    assert second.pk == next_id and second.status == DeliveryStatus.PENDING
    assert second.scheduled_for - first.finished_at >= timedelta(seconds=7)


def test_503_retry_after_http_date_is_honoured(receiver, make_webhook, published):
    make_webhook(receiver.url)
    when = timezone.now() + timedelta(seconds=30)
    http_date = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    receiver.script(Reply(503, b"", {"Retry-After": http_date}))

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    committed(attempt_delivery, published.pop(0)[0])
    [(_next_id, countdown)] = published
    assert 28 <= countdown <= 31


def test_attempts_stop_at_the_maximum_and_the_last_is_failed(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(502))

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)

    rows = attempts(webhook)
    assert [r.attempt for r in rows] == [1, 2, 3, 4]  # WEBHOOK_MAX_ATTEMPTS = 4 in tests
    assert [r.status for r in rows] == ["retrying"] * 3 + ["failed"]
    assert "Gave up after 4 attempts" in rows[-1].error
    assert len(receiver.requests) == 4


def test_connection_refused_is_retried(make_webhook, published):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    webhook = make_webhook(f"http://127.0.0.1:{port}/")

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    committed(attempt_delivery, published.pop(0)[0])

    first, second = attempts(webhook)
    assert first.status == DeliveryStatus.RETRYING
    assert first.response_status is None
    assert first.error.startswith("Network error: ConnectError")
    assert second.status == DeliveryStatus.PENDING


def test_timeout_is_retried(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url, timeout=1)
    receiver.script(Reply(200, delay=2.5))

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    started = time.monotonic()
    committed(attempt_delivery, published.pop(0)[0])

    assert time.monotonic() - started < 2.5
    first = attempts(webhook)[0]
    assert first.status == DeliveryStatus.RETRYING
    assert first.error == "Timed out after 1 s."
    assert len(published) == 1


def test_redirects_are_not_followed(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(302, b"", {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}))

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)

    [row] = attempts(webhook)
    assert row.status == DeliveryStatus.FAILED
    assert "redirects are not followed" in row.error
    assert [r.path for r in receiver.requests] == ["/hooks/catalog"]


def test_send_time_ssrf_check_refuses_without_calling(receiver, make_webhook, published, settings):
    webhook = make_webhook(receiver.url)  # saved while loopback was allowed
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []  # e.g. DNS now points inside

    run_published(published)

    [row] = attempts(webhook)
    assert row.status == DeliveryStatus.FAILED
    assert row.error.startswith("Refused: ")
    assert "loopback" in row.error
    assert receiver.requests == []


def test_send_time_check_catches_dns_rebinding(
    receiver, make_webhook, published, monkeypatch, settings
):
    """The name resolved publicly when saved, to 127.0.0.1 now: refused, nothing sent."""
    webhook = make_webhook(f"http://hooks.example.com:{receiver.port}/")
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    real_getaddrinfo = socket.getaddrinfo

    def rebound(host, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if host == "hooks.example.com" else host, *args)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    run_published(published)

    assert attempts(webhook)[0].status == DeliveryStatus.FAILED
    assert receiver.requests == []


def test_request_goes_to_the_checked_address_with_the_original_host(
    receiver, make_webhook, published, monkeypatch
):
    """The sender connects to the address it checked, not to a second DNS answer."""
    webhook = make_webhook(f"http://hooks.example.com:{receiver.port}/in")
    receiver.secret = webhook.secret
    answers = iter(["127.0.0.1"])
    real_getaddrinfo = socket.getaddrinfo

    def once(host, *args, **kwargs):
        if host == "hooks.example.com":
            return real_getaddrinfo(next(answers), *args)  # a second lookup would fail
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", once)
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)

    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.example.com:{receiver.port}"
    assert request.signature_valid
    assert attempts(webhook)[0].status == DeliveryStatus.SUCCEEDED


def test_unresolvable_host_at_send_time_is_retried(make_webhook, published, monkeypatch):
    webhook = make_webhook("http://hooks.example.com/")

    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    committed(attempt_delivery, published.pop(0)[0])

    assert attempts(webhook)[0].status == DeliveryStatus.RETRYING
    assert "could not be resolved" in attempts(webhook)[0].error


def test_only_an_excerpt_of_a_large_response_is_kept(receiver, make_webhook, published, settings):
    settings.WEBHOOK_RESPONSE_EXCERPT_BYTES = 100
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(200, b"x" * 500_000))

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)

    row = attempts(webhook)[0]
    assert row.status == DeliveryStatus.SUCCEEDED
    assert row.response_excerpt == "x" * 100


def test_disabled_or_unsubscribed_webhooks_get_nothing(receiver, make_webhook, published):
    make_webhook(receiver.url, is_enabled=False)
    make_webhook(receiver.url, event_types=[EventType.PRODUCT_DELETED])
    subscribed = make_webhook(receiver.url, event_types=[EventType.PRODUCT_CREATED])

    committed(emit_event, EventType.PRODUCT_CREATED, DATA)

    assert list(WebhookDelivery.objects.values_list("webhook_id", flat=True)) == [subscribed.pk]


def test_webhook_disabled_before_the_attempt_sends_nothing(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    webhook.is_enabled = False
    webhook.save()

    run_published(published)

    row = attempts(webhook)[0]
    assert row.status == DeliveryStatus.FAILED and "disabled" in row.error
    assert receiver.requests == []


def test_a_duplicate_task_message_sends_once(receiver, make_webhook, published):
    make_webhook(receiver.url)
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    delivery_id = published.pop(0)[0]

    assert committed(attempt_delivery, delivery_id) is not None
    assert committed(attempt_delivery, delivery_id) is None  # e.g. broker redelivery
    assert len(receiver.requests) == 1


def test_failed_delivery_is_resent_with_a_fresh_retry_budget(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.secret = webhook.secret
    receiver.script(Reply(410))
    committed(emit_event, EventType.IMPORT_COMPLETED, {"job_id": "j1", "summary": {"created": 3}})
    run_published(published)
    [failed] = attempts(webhook)
    assert failed.status == DeliveryStatus.FAILED

    receiver.script(Reply(200))
    resent = committed(resend_delivery, failed.pk)
    assert resent.status == DeliveryStatus.PENDING
    assert (resent.attempt, resent.resend_of_id) == (2, failed.pk)
    assert resent.max_attempts == 1 + 4
    run_published(published)

    resent.refresh_from_db()
    assert resent.status == DeliveryStatus.SUCCEEDED
    first, second = receiver.requests[-2:]
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == failed.message_id
    assert first.body == second.body
    assert second.signature_valid


def test_resend_is_refused_unless_latest_failed_attempt(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(400))
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)
    failed = attempts(webhook)[0]

    committed(resend_delivery, failed.pk)
    with pytest.raises(ConflictError, match="already sent again"):
        resend_delivery(failed.pk)
    pending = attempts(webhook)[-1]
    with pytest.raises(ConflictError, match="Only a failed delivery"):
        resend_delivery(pending.pk)


def test_resend_of_a_disabled_webhook_is_refused(receiver, make_webhook, published):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(400))
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)
    webhook.is_enabled = False
    webhook.save()
    with pytest.raises(ConflictError, match="disabled"):
        resend_delivery(attempts(webhook)[0].pk)


def test_maintenance_requeues_lost_closes_interrupted_and_prunes(make_webhook, published):
    webhook = make_webhook("http://127.0.0.1:9/")
    old = timezone.now() - timedelta(hours=1)

    def row(**fields):
        defaults = {
            "webhook": webhook,
            "message_id": delivery_service.new_message_id(),
            "event_type": "product.created",
            "max_attempts": 4,
            "request_url": webhook.url,
            "request_body": "{}",
            "scheduled_for": old,
        }
        return WebhookDelivery.objects.create(**{**defaults, **fields})

    lost = row(status=DeliveryStatus.PENDING)
    row(status=DeliveryStatus.PENDING, scheduled_for=timezone.now())  # not due long enough
    interrupted = row(status=DeliveryStatus.SENDING, sent_at=old)
    ancient = row(status=DeliveryStatus.FAILED)
    WebhookDelivery.objects.filter(pk=ancient.pk).update(
        created_at=timezone.now() - timedelta(days=31)
    )

    result = committed(maintain_deliveries)

    assert result == {"requeued": 1, "interrupted": 1, "deleted": 1}
    assert published[0] == (lost.pk, 0)
    interrupted.refresh_from_db()
    assert interrupted.status == DeliveryStatus.RETRYING
    assert "Interrupted" in interrupted.error
    assert WebhookDelivery.objects.filter(
        message_id=interrupted.message_id, attempt=2, status=DeliveryStatus.PENDING
    ).exists()
    assert not WebhookDelivery.objects.filter(pk=ancient.pk).exists()


def test_backoff_is_exponential_capped_and_respects_retry_after(settings):
    settings.WEBHOOK_RETRY_BASE_DELAY = 10
    settings.WEBHOOK_RETRY_BACKOFF_FACTOR = 4
    settings.WEBHOOK_RETRY_MAX_DELAY = 3000
    assert 10 <= retry_delay(1) <= 11
    assert 40 <= retry_delay(2) <= 44
    assert 160 <= retry_delay(3) <= 176
    assert retry_delay(9) == 3000
    assert retry_delay(1, retry_after=120) == 120
    assert retry_delay(1, retry_after=86_400) == 3000  # capped: within the broker's limits
    assert parse_retry_after("12") == 12
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_secret_never_reaches_logs_or_delivery_rows(receiver, make_webhook, published, caplog):
    caplog.set_level(logging.DEBUG)
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(500), Reply(200))
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    run_published(published)

    key_part = webhook.secret.removeprefix("whsec_")
    assert key_part not in caplog.text
    assert "webhook delivery" in caplog.text  # the attempts were logged
    for row in WebhookDelivery.objects.all():
        assert key_part not in json.dumps(row.request_headers) + row.request_body + row.error


def test_an_unexpected_error_is_recorded_and_retried(make_webhook, published, monkeypatch):
    webhook = make_webhook("http://127.0.0.1:9/")

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(delivery_service, "_post", broken)
    committed(emit_event, EventType.PRODUCT_CREATED, DATA)
    committed(attempt_delivery, published.pop(0)[0])

    first = attempts(webhook)[0]
    assert first.status == DeliveryStatus.RETRYING
    assert first.error == "Internal error while sending; see the logs."
    assert len(published) == 1


def test_a_bad_allow_list_entry_fails_the_system_check(settings):
    from webhook.checks import check_allowed_private_networks

    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    assert check_allowed_private_networks(None) == []
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["10.0.0.0/33"]
    [error] = check_allowed_private_networks(None)
    assert error.id == "webhook.E001"
