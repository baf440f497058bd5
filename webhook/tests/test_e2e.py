"""End to end: product changes through the API → the real Celery worker (queue `webhooks`)
→ signed requests at a receiver on 127.0.0.1 that verifies them with the secret on its own.

The worker reads WEBHOOK_ALLOW_PRIVATE_TARGETS and the tiny retry delays from the
environment set in conftest.py.
"""

import time

import pytest

from core.testing.helpers import wait_until
from webhook.models import DeliveryStatus, WebhookDelivery
from webhook.testing.receiver import Reply

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def subscribed(client_for, receiver):
    """An operator client and a webhook created through the API (secret shown once)."""
    operator = client_for("operator")
    response = operator.post(
        "/api/webhooks/",
        {
            "url": receiver.url,
            "event_types": ["product.created", "product.updated", "product.deleted"],
            "headers": {"X-Tenant": "acme"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    receiver.secret = response.json()["secret"]
    operator.webhook_id = response.json()["id"]
    return operator


def create_product(client, sku):
    response = client.post(
        "/api/products/", {"sku": sku, "name": "Mug", "price": "12.50"}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def statuses(webhook_id):
    return list(
        WebhookDelivery.objects.filter(webhook_id=webhook_id)
        .order_by("id")
        .values_list("event_type", "attempt", "status")
    )


def test_product_changes_via_the_api_arrive_signed(celery_worker_process, subscribed, receiver):
    created = subscribed.post(
        "/api/products/", {"sku": "E2E-1", "name": "Mug", "price": "12.50"}, format="json"
    )
    assert created.status_code == 201, created.json()
    product_id = created.json()["id"]
    [first] = receiver.wait_for(1)

    assert first.signature_valid is True
    assert first.headers["x-tenant"] == "acme"
    assert first.json()["event_type"] == "product.created"
    assert first.json()["data"]["sku"] == "E2E-1"
    assert b'"price":12.50,' in first.body  # a JSON number with the exact digits

    patched = subscribed.patch(f"/api/products/{product_id}/", {"price": "9.90"}, format="json")
    assert patched.status_code == 200, patched.json()
    receiver.wait_for(2)
    assert subscribed.delete(f"/api/products/{product_id}/").status_code == 204
    _, updated, deleted = receiver.wait_for(3)

    assert updated.json()["data"]["changes"] == ["price"]
    assert b'"price":9.90,' in updated.body
    assert deleted.json()["event_type"] == "product.deleted"
    assert deleted.json()["data"]["sku"] == "E2E-1"
    assert all(r.signature_valid for r in receiver.requests)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 3
    assert wait_until(
        lambda: statuses(subscribed.webhook_id)
        == [
            ("product.created", 1, "succeeded"),
            ("product.updated", 1, "succeeded"),
            ("product.deleted", 1, "succeeded"),
        ]
    ), statuses(subscribed.webhook_id)


def test_worker_retries_a_500_then_succeeds(celery_worker_process, subscribed, receiver):
    receiver.script(Reply(500, b"try later"), Reply(200))
    create_product(subscribed, "E2E-2")

    first, second = receiver.wait_for(2)

    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.signature_valid
    assert wait_until(
        lambda: statuses(subscribed.webhook_id)
        == [("product.created", 1, "retrying"), ("product.created", 2, "succeeded")]
    ), statuses(subscribed.webhook_id)
    listed = subscribed.get(f"/api/webhooks/{subscribed.webhook_id}/deliveries/").json()
    assert [(r["attempt"], r["response_status"]) for r in listed["results"]] == [
        (2, 200),
        (1, 500),
    ]


def test_worker_honours_retry_after_on_429(celery_worker_process, subscribed, receiver):
    receiver.script(Reply(429, b"", {"Retry-After": "2"}), Reply(200))
    create_product(subscribed, "E2E-3")

    first, second = receiver.wait_for(2)

    # The worker's backoff base is 0.1 s: only Retry-After explains a 2 s gap.
    assert second.at - first.at >= 1.9
    assert wait_until(lambda: statuses(subscribed.webhook_id)[-1][2] == "succeeded")


def test_worker_does_not_retry_a_400_and_the_failure_stays_visible(
    celery_worker_process, subscribed, receiver
):
    receiver.script(Reply(400, b"unknown sku"))
    create_product(subscribed, "E2E-4")

    receiver.wait_for(1)
    assert wait_until(lambda: statuses(subscribed.webhook_id) == [("product.created", 1, "failed")])
    time.sleep(1.0)  # several backoff periods of the worker (0.1 s): no second attempt
    assert len(receiver.requests) == 1
    failed = WebhookDelivery.objects.get(webhook_id=subscribed.webhook_id)
    assert failed.response_excerpt == "unknown sku"

    receiver.script(Reply(200))
    resent = subscribed.post(
        f"/api/webhooks/{subscribed.webhook_id}/deliveries/{failed.pk}/resend/"
    )
    assert resent.status_code == 202
    receiver.wait_for(2)
    assert wait_until(
        lambda: WebhookDelivery.objects.get(pk=resent.json()["id"]).status
        == DeliveryStatus.SUCCEEDED
    )
    assert receiver.requests[1].signature_valid
