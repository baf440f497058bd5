"""The chain seed 003 automates: Make.com's order.created → a code allocated for the order
→ the code email queued to the buyer → a short link promoting the code → its clicks
credited to the code; and the codes.pool_low outbound webhook event."""

import json

import pytest
from django.test import TestCase

from codes.models import CodeType, EmailMessage, EmailTemplate, LinkClick
from codes.services import links
from codes.services.clicks import write_clicks
from codes.services.codes import ensure_code_types
from codes.services.order_events import handle_order_created
from webhook.models import EventType, InboundEvent, InboundStatus, WebhookDelivery
from webhook.services import inbox

from .factories import make_codes

TOKEN = "make-test-token"
SEED_EVENT = {
    "event_id": "order-123",
    "event_type": "order.created",
    "order": {"id": "fienta-order-456", "buyer_email": "customer@example.com", "total": 100.0},
}


pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def make_setup(settings, db):
    settings.MAKE_TOKEN = TOKEN
    settings.CODES_ORDER_CODE_TYPE = "discount"
    # Transactional tests empty the tables, the data migration's template included.
    EmailTemplate.objects.get_or_create(
        name=settings.CODES_ORDER_EMAIL_TEMPLATE,
        defaults={"subject": "Your code for order {{ order.id }}", "text_body": "Code: {{ code }}"},
    )


def post(client, body):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            "/api/integrations/make/webhook",
            json.dumps(body),
            content_type="application/json",
            HTTP_X_MAKE_TOKEN=TOKEN,
        )


def test_the_handler_is_registered_for_make_order_created(db):
    assert inbox.handler_for("make", "order.created") is handle_order_created


@pytest.mark.django_db
def test_order_created_allocates_a_code_and_queues_its_email_once(api_client, enqueued_jobs):
    make_codes(3, prefix="PROMO")
    response = post(api_client, SEED_EVENT)
    assert response.status_code == 200, response.json()
    outcome = response.json()["outcome"]
    assert outcome["order_id"] == "fienta-order-456" and outcome["code"].startswith("PROMO-")
    assert outcome["code_allocated"] is True and outcome["email_queued"] is True
    message = EmailMessage.objects.get(pk=outcome["email_id"])
    assert message.to == ["customer@example.com"] and message.code.code == outcome["code"]
    assert message.subject == "Your code for order fienta-order-456"
    assert f"Your code: {outcome['code']}" in message.text_body
    assert message.code.status == "used" and message.code.reference == "fienta-order-456"
    assert [job.pk for job in enqueued_jobs] == [message.job_id]

    # Make.com retries: duplicate, nothing more. Another event id for the same order: the
    # same code, no second email.
    assert post(api_client, SEED_EVENT).json()["duplicate"] is True
    changed = {**SEED_EVENT["order"], "total": 90.0}
    other = post(api_client, {**SEED_EVENT, "event_id": "order-123-b", "order": changed}).json()
    assert other["status"] == "processed" and other["outcome"]["code"] == outcome["code"]
    assert other["outcome"]["code_allocated"] is False and other["outcome"]["email_queued"] is False
    assert EmailMessage.objects.count() == 1 and len(enqueued_jobs) == 1


@pytest.mark.django_db
def test_an_empty_pool_fails_the_event_with_nothing_applied_and_a_replay_heals_it(
    api_client, client_for, enqueued_jobs
):
    ensure_code_types(["discount"])
    response = post(api_client, SEED_EVENT)
    assert response.status_code == 409 and response.json()["error"]["code"] == "pool_empty"
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.FAILED and event.error_code == "pool_empty"
    assert not EmailMessage.objects.exists() and enqueued_jobs == []

    make_codes(1, prefix="LATE")
    with TestCase.captureOnCommitCallbacks(execute=True):
        replay = client_for("operator").post(
            f"/api/integrations/webhooks/processed/{event.pk}/replay"
        )
    assert replay.status_code == 200 and replay.json()["outcome"]["code"] == "LATE-0001"
    assert EmailMessage.objects.count() == 1 and len(enqueued_jobs) == 1


@pytest.mark.django_db
def test_a_failure_after_the_allocation_rolls_the_allocation_back(api_client, enqueued_jobs):
    make_codes(2, prefix="ROLL")
    EmailTemplate.objects.all().delete()  # the email cannot be made: the handler fails late
    response = post(api_client, SEED_EVENT)
    assert response.status_code == 400 and response.json()["error"]["code"] == "template_error"
    assert CodeType.objects.get(slug="discount").codes.filter(status="used").count() == 0
    assert InboundEvent.objects.get().status == InboundStatus.FAILED and enqueued_jobs == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "order",
    [None, {"buyer_email": "a@example.com"}, {"id": "1"}, {"id": "1", "buyer_email": "nope"}],
)
def test_an_unusable_order_is_rejected_and_stored_failed(api_client, order):
    make_codes(1)
    body = {**SEED_EVENT, "order": order}
    response = post(api_client, body)
    assert response.status_code == 422 and response.json()["error"]["code"] == "event_rejected"
    assert InboundEvent.objects.get().status == InboundStatus.FAILED
    assert not EmailMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_clicks_on_a_link_promoting_the_code_are_credited_to_it(api_client, operator_client):
    make_codes(1, prefix="CHAIN")
    outcome = post(api_client, SEED_EVENT).json()["outcome"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        created = operator_client.post(
            "/api/links",
            {"url": "https://shop.example.com/", "slug": "chain", "code": outcome["code"].lower()},
            format="json",
        )
    assert created.status_code == 201 and created.json()["code"] == outcome["code"]
    for _ in range(2):
        assert (
            api_client.get("/l/chain", HTTP_USER_AGENT="Mozilla/5.0 Firefox/125").status_code == 302
        )
    assert write_clicks().written == 2
    assert LinkClick.objects.filter(code__code=outcome["code"]).count() == 2
    assert operator_client.get("/api/links", {"code": outcome["code"]}).json()["count"] == 1
    emails = operator_client.get("/api/email/messages", {"code": outcome["code"]}).json()
    assert emails["count"] == 1 and emails["results"][0]["code"] == outcome["code"]
    unknown = operator_client.post(
        "/api/links", {"url": "https://a.example.com/", "code": "NOPE"}, format="json"
    )
    assert unknown.status_code == 400 and "code" in unknown.json()["error"]["fields"]


@pytest.fixture
def operator_client(client_for):
    return client_for("operator")


@pytest.mark.django_db
def test_a_low_pool_sends_the_codes_pool_low_webhook_event(api_client, settings, monkeypatch):
    from webhook.models import Webhook
    from webhook.services import delivery

    monkeypatch.setattr(delivery, "_publish", lambda *args: None)
    Webhook.objects.create(
        url="https://hooks.example.com/in", event_types=[EventType.CODES_POOL_LOW]
    )
    make_codes(3, prefix="LOW")
    CodeType.objects.filter(slug="discount").update(low_water_mark=3, pool_low_since=None)
    post(api_client, SEED_EVENT)
    [sent] = WebhookDelivery.objects.filter(event_type="codes.pool_low")
    body = json.loads(sent.request_body)
    assert body["event_type"] == "codes.pool_low"
    assert body["data"] == {"code_type": "discount", "available": 2, "low_water_mark": 3}
    assert links  # the chain's other end is tested above
