"""Operator console: the secret stays hidden, deliveries are a read-only log with re-send."""

import pytest

from webhook.models import DeliveryStatus, EventType, Webhook, WebhookDelivery
from webhook.services.events import emit_event
from webhook.testing.receiver import Reply

from .helpers import committed, run_published

pytestmark = pytest.mark.django_db


def test_webhook_pages_never_show_the_secret(staff_client, make_webhook, receiver):
    webhook = make_webhook(receiver.url, name="ERP")
    for url in ("/admin/webhook/webhook/", f"/admin/webhook/webhook/{webhook.pk}/change/"):
        response = staff_client.get(url)
        assert response.status_code == 200
        assert webhook.secret not in response.content.decode()


def test_adding_a_webhook_shows_its_secret_once(staff_client, receiver):
    response = staff_client.post(
        "/admin/webhook/webhook/add/",
        {
            "name": "ERP",
            "url": receiver.url,
            "event_types": [EventType.PRODUCT_CREATED, EventType.IMPORT_COMPLETED],
            "is_enabled": "on",
            "headers": '{"X-Tenant": "acme"}',
            "timeout": "10",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    webhook = Webhook.objects.get()
    assert webhook.event_types == ["product.created", "import.completed"]
    # Shown on the page the add redirects to, as a one-time message, then never again.
    assert webhook.secret in staff_client.get(response.url).content.decode()
    page = staff_client.get(f"/admin/webhook/webhook/{webhook.pk}/change/")
    assert webhook.secret not in page.content.decode()


def test_admin_refuses_private_urls_and_reserved_headers(staff_client, settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    response = staff_client.post(
        "/admin/webhook/webhook/add/",
        {
            "url": "http://169.254.169.254/latest/",
            "event_types": [EventType.PRODUCT_CREATED],
            "headers": '{"webhook-id": "forged"}',
            "timeout": "10",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "private, loopback or link-local" in str(errors["url"])
    assert "set by the platform" in str(errors["headers"])
    assert not Webhook.objects.exists()


def test_delivery_admin_is_read_only_with_filters(staff_client, make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    committed(emit_event, EventType.PRODUCT_CREATED, {"sku": "A"})
    delivery = WebhookDelivery.objects.get()

    listing = staff_client.get("/admin/webhook/webhookdelivery/?status__exact=pending")
    assert listing.status_code == 200
    assert "By event type" in listing.content.decode()
    assert staff_client.get("/admin/webhook/webhookdelivery/add/").status_code == 403
    detail = staff_client.post(
        f"/admin/webhook/webhookdelivery/{delivery.pk}/change/", {"status": "succeeded"}
    )
    assert detail.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING


def test_admin_action_resends_failed_deliveries(
    staff_client, make_webhook, receiver, published, django_capture_on_commit_callbacks
):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(404))
    committed(emit_event, EventType.PRODUCT_CREATED, {"sku": "A"})
    run_published(published)
    failed = webhook.deliveries.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/webhook/webhookdelivery/",
            {"action": "resend_failed", "_selected_action": [failed.pk]},
        )

    assert response.status_code == 302
    resent = webhook.deliveries.get(attempt=2)
    assert resent.resend_of_id == failed.pk and resent.status == DeliveryStatus.PENDING
    assert published == [(resent.pk, 0)]
