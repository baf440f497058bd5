"""The inbound inbox and its Make.com receiver: authentication, idempotency on event_id,
conflicting bodies, unknown types, handler failures (nothing half-applied, replayable)."""

import contextlib
import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import TestCase

from core.testing.helpers import run_in_thread
from product.models import Product
from webhook.models import InboundEvent, InboundStatus
from webhook.services import inbox

URL = "/api/integrations/make/webhook"
LIST_URL = "/api/integrations/webhooks/processed"
TOKEN = "make-test-token-0123456789"

# Seed 003's literal example.
SEED_EVENT = {
    "event_id": "order-123",
    "event_type": "order.created",
    "order": {"id": "fienta-order-456", "buyer_email": "customer@example.com", "total": 100.0},
}


@pytest.fixture(autouse=True)
def make_token(settings):
    settings.MAKE_TOKEN = TOKEN
    return settings


class ProductHandler:
    """A handler with real effects: a product per order, an on-commit "notification", and
    a failure, when asked for, after its first write (to prove nothing half-applies)."""

    def __init__(self):
        self.fail_with: Exception | None = None
        self.notified: list[str] = []
        self.delay = 0.0
        self.calls = 0

    def __call__(self, event):
        self.calls += 1
        order = event.payload["order"]
        product = Product.objects.create(
            sku=f"ORDER-{order['id']}", name="Order", price=Decimal(str(order["total"]))
        )
        transaction.on_commit(lambda: self.notified.append(order["id"]))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        return {"product_id": product.pk, "total": Decimal(str(order["total"]))}


@contextlib.contextmanager
def handling(event_type, handler):
    """`handler` takes Make's `event_type` events for the block; the app's own comes back."""
    previous = inbox.handler_for("make", event_type)
    inbox.register_handler("make", event_type, handler)
    try:
        yield handler
    finally:
        if previous is None:
            inbox.unregister_handler("make", event_type)
        else:
            inbox.register_handler("make", event_type, previous)


@pytest.fixture
def handler():
    """A stand-in for the codes app's order.created handler, with effects of its own."""
    with handling("order.created", ProductHandler()) as stand_in:
        yield stand_in


def post(client, body, token=TOKEN, **headers):
    if token is not None:
        headers["HTTP_X_MAKE_TOKEN"] = token
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def committed_post(client, body, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return post(client, body, **kwargs)


@pytest.mark.django_db
def test_seed_example_is_processed_once_and_its_retry_is_a_duplicate(api_client, handler):
    first = committed_post(api_client, SEED_EVENT)
    assert first.status_code == 200, first.json()
    data = first.json()
    assert data["status"] == "processed" and data["duplicate"] is False and data["ok"] is True
    assert data["event_id"] == "order-123" and data["event_type"] == "order.created"
    product = Product.objects.get(sku="ORDER-fienta-order-456")
    assert data["outcome"] == {"product_id": product.pk, "total": "100.0"}
    assert handler.notified == ["fienta-order-456"]

    # Make.com retries (a timeout on its side): same id, same body, keys in another order.
    retry = committed_post(api_client, dict(reversed(list(SEED_EVENT.items()))))
    assert retry.status_code == 200
    assert retry.json()["duplicate"] is True and retry.json()["status"] == "processed"
    assert retry.json()["outcome"] == data["outcome"]
    assert Product.objects.filter(sku__startswith="ORDER-").count() == 1
    assert handler.calls == 1 and handler.notified == ["fienta-order-456"]
    event = InboundEvent.objects.get(event_id="order-123")
    assert event.attempts == 1 and event.duplicates == 1 and event.last_duplicate_at


@pytest.mark.django_db
def test_same_event_id_with_another_body_is_a_conflict(api_client, handler):
    assert committed_post(api_client, SEED_EVENT).status_code == 200
    changed = {**SEED_EVENT, "order": {**SEED_EVENT["order"], "total": 250.0}}
    response = committed_post(api_client, changed)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "event_conflict"
    assert "event_id" in response.json()["error"]["fields"]
    event = InboundEvent.objects.get(event_id="order-123")
    assert event.payload["order"]["total"] == 100.0 and event.duplicates == 0
    assert handler.calls == 1


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "", "wrong-token", TOKEN + "x", "tökén"])
def test_a_missing_or_wrong_token_is_refused_before_anything_is_stored(api_client, handler, token):
    response = post(api_client, SEED_EVENT, token=token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert TOKEN not in response.content.decode()
    assert not InboundEvent.objects.exists() and handler.calls == 0


@pytest.mark.django_db
def test_without_a_configured_token_the_receiver_says_so(api_client, settings, handler):
    settings.MAKE_TOKEN = ""
    response = post(api_client, SEED_EVENT, token="")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "receiver_not_configured"
    assert "MAKE_TOKEN" in response.json()["error"]["message"]
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_unknown_event_types_are_stored_and_acknowledged_as_ignored(api_client):
    body = {"event_id": "evt-9", "event_type": "order.refunded", "order": {"id": "A"}}
    response = committed_post(api_client, body)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored" and response.json()["ok"] is True
    assert "No handler" in response.json()["outcome"]["reason"]
    assert InboundEvent.objects.get(event_id="evt-9").payload == body
    again = committed_post(api_client, body)
    assert again.json()["duplicate"] is True and again.json()["status"] == "ignored"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": "order.created"}, "event_id"),
        ({"event_id": "e1"}, "event_type"),
        ({"event_id": "", "event_type": "order.created"}, "event_id"),
        ({"event_id": {"x": 1}, "event_type": "order.created"}, "event_id"),
        ({"event_id": "e1", "event_type": "order created!"}, "event_type"),
        ({"event_id": "x" * 201, "event_type": "order.created"}, "event_id"),
    ],
)
def test_a_malformed_envelope_is_a_400_naming_the_field(api_client, body, field):
    response = post(api_client, body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_non_object_bodies_and_bad_json_are_400(api_client):
    assert post(api_client, [SEED_EVENT]).status_code == 400
    response = api_client.post(
        URL, "{not json", content_type="application/json", HTTP_X_MAKE_TOKEN=TOKEN
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"]


@pytest.mark.django_db
def test_a_numeric_event_id_is_kept_as_text(api_client, handler):
    body = {**SEED_EVENT, "event_id": 123456}
    assert committed_post(api_client, body).json()["event_id"] == "123456"


@pytest.mark.django_db
def test_bodies_over_the_limit_are_refused_with_413(api_client, settings, handler):
    settings.INBOUND_WEBHOOK_MAX_BODY_BYTES = 1024
    body = {**SEED_EVENT, "notes": "x" * 2000}
    response = post(api_client, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not InboundEvent.objects.exists() and handler.calls == 0


@pytest.mark.django_db
def test_a_failing_handler_applies_nothing_and_the_event_is_stored_failed(api_client, handler):
    handler.fail_with = RuntimeError("mail relay unreachable")
    response = committed_post(api_client, SEED_EVENT)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "handler_failed"
    assert "mail relay" not in error["message"]  # details stay with the operators
    assert response.json()["event"]["status"] == "failed"
    # Nothing half-applied: the product write and the on-commit effect are both gone.
    assert not Product.objects.filter(sku__startswith="ORDER-").exists()
    assert handler.notified == []
    event = InboundEvent.objects.get(event_id="order-123")
    assert event.status == InboundStatus.FAILED and event.attempts == 1
    assert event.error == "RuntimeError: mail relay unreachable"
    assert event.error_code == "handler_failed"

    # Make.com retries the same event after the 503: the handler runs again and succeeds.
    handler.fail_with = None
    retry = committed_post(api_client, SEED_EVENT)
    assert retry.status_code == 200 and retry.json()["status"] == "processed"
    assert retry.json()["duplicate"] is False
    assert Product.objects.filter(sku__startswith="ORDER-").count() == 1
    assert handler.notified == ["fienta-order-456"]
    event.refresh_from_db()
    assert event.attempts == 2 and event.error == "" and event.status == InboundStatus.PROCESSED


@pytest.mark.django_db
def test_a_handler_refusal_keeps_its_status_and_message(api_client, handler):
    from webhook.exceptions import InboundEventRejected

    handler.fail_with = InboundEventRejected("order.buyer_email is missing.")
    response = committed_post(api_client, SEED_EVENT)
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "event_rejected",
        "message": "order.buyer_email is missing.",
    }
    assert "Retry-After" not in response.headers
    event = InboundEvent.objects.get()
    assert event.status == "failed" and event.error == "order.buyer_email is missing."


@pytest.mark.django_db
def test_failed_events_are_replayed_by_operators_and_processed_ones_never_twice(
    api_client, client_for, handler
):
    handler.fail_with = RuntimeError("boom")
    committed_post(api_client, SEED_EVENT)
    event = InboundEvent.objects.get()
    operator = client_for("operator")

    handler.fail_with = None
    with TestCase.captureOnCommitCallbacks(execute=True):
        replayed = operator.post(f"{LIST_URL}/{event.pk}/replay")
    assert replayed.status_code == 200, replayed.json()
    assert replayed.json()["status"] == "processed"
    assert Product.objects.filter(sku="ORDER-fienta-order-456").count() == 1
    event.refresh_from_db()
    assert event.replayed_by == operator.user and event.attempts == 2

    again = operator.post(f"{LIST_URL}/{event.pk}/replay")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "event_not_replayable"
    assert handler.calls == 2
    assert client_for("viewer").post(f"{LIST_URL}/{event.pk}/replay").status_code == 403


@pytest.mark.django_db
def test_an_ignored_event_is_processed_by_a_replay_once_its_type_has_a_handler(
    api_client, client_for
):
    committed_post(api_client, {**SEED_EVENT, "event_type": "order.imported"})
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.IGNORED
    with (
        handling("order.imported", ProductHandler()),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        response = client_for("operator").post(f"{LIST_URL}/{event.pk}/replay")
    assert inbox.handler_for("make", "order.imported") is None
    assert response.json()["status"] == "processed"
    assert Product.objects.filter(sku="ORDER-fienta-order-456").exists()


@pytest.mark.django_db
def test_the_processed_list_filters_and_needs_the_operator_role(api_client, client_for, handler):
    committed_post(api_client, SEED_EVENT)
    committed_post(api_client, {"event_id": "e-2", "event_type": "order.refunded"})
    handler.fail_with = RuntimeError("x")
    committed_post(api_client, {**SEED_EVENT, "event_id": "e-3", "order": {"id": "3", "total": 1}})
    operator = client_for("operator")

    listing = operator.get(LIST_URL)
    assert listing.status_code == 200
    assert [row["event_id"] for row in listing.json()["results"]] == ["e-3", "e-2", "order-123"]
    assert listing.json()["results"][0]["payload"]["order"]["id"] == "3"

    def ids(query):
        response = operator.get(LIST_URL, query)
        assert response.status_code == 200, response.json()
        return [row["event_id"] for row in response.json()["results"]]

    assert ids({"status": "failed"}) == ["e-3"]
    assert ids({"status": ["processed", "ignored"]}) == ["e-2", "order-123"]
    assert ids({"event_type": "order.refunded"}) == ["e-2"]
    assert ids({"event_id": "order-123"}) == ["order-123"]
    assert ids({"source": "shopify"}) == []
    assert ids({"received_after": "2000-01-01T00:00:00Z", "search": "e-"}) == ["e-3", "e-2"]
    assert operator.get(LIST_URL, {"status": "bogus"}).status_code == 400
    assert operator.get(LIST_URL, {"received_after": "yesterday"}).status_code == 400
    assert (
        operator.get(
            f"/api/v1/integrations/webhooks/processed/{InboundEvent.objects.last().pk}"
        ).status_code
        == 200
    )
    assert client_for("viewer").get(LIST_URL).status_code == 403
    assert api_client.get(LIST_URL).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_simultaneous_deliveries_of_one_event_apply_it_once(handler):
    """Two requests with the same event at the same time: the second waits on the unique
    claim of the first, then answers duplicate; the handler ran once."""
    from rest_framework.test import APIClient

    handler.delay = 0.3
    responses = []
    barrier = threading.Barrier(2)

    def deliver():
        barrier.wait()
        responses.append(post(APIClient(), SEED_EVENT))

    threads = [run_in_thread(deliver) for _ in range(2)]
    for thread in threads:
        thread.join(10)
    assert sorted(r.status_code for r in responses) == [200, 200]
    assert sorted(r.json()["duplicate"] for r in responses) == [False, True]
    assert handler.calls == 1
    assert Product.objects.filter(sku="ORDER-fienta-order-456").count() == 1
    assert handler.notified == ["fienta-order-456"]


@pytest.mark.django_db
def test_the_receiver_also_answers_under_api_v1(api_client, handler):
    response = api_client.post(
        "/api/v1/integrations/make/webhook",
        json.dumps(SEED_EVENT),
        content_type="application/json",
        HTTP_X_MAKE_TOKEN=TOKEN,
    )
    assert response.status_code == 200 and response.json()["status"] == "processed"


@pytest.mark.django_db
def test_the_admin_lists_events_and_replays_the_failed_ones(api_client, client, make_user, handler):
    handler.fail_with = RuntimeError("boom")
    committed_post(api_client, SEED_EVENT)
    handler.fail_with = None
    committed_post(api_client, {**SEED_EVENT, "event_id": "e-2", "order": {"id": "2", "total": 5}})
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    page = client.get("/admin/webhook/inboundevent/", {"status__exact": "failed"})
    assert page.status_code == 200 and "order-123" in page.content.decode()
    assert "e-2" not in page.content.decode()
    detail = client.get(
        f"/admin/webhook/inboundevent/{InboundEvent.objects.get(event_id='e-2').pk}/change/"
    )
    assert detail.status_code == 200

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            "/admin/webhook/inboundevent/",
            {
                "action": "replay_selected",
                "_selected_action": list(InboundEvent.objects.values_list("pk", flat=True)),
            },
            follow=True,
        )
    assert "1 events processed." in response.content.decode()
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert Product.objects.filter(sku__startswith="ORDER-").count() == 2
