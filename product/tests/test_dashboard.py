"""GET /api/dashboard/stats: exact figures from a few aggregate queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Job
from product.models import Product

pytestmark = pytest.mark.django_db

URL = "/api/dashboard/stats"


def add_webhook_rows():
    webhook_model = apps.get_model("webhook", "Webhook")
    delivery_model = apps.get_model("webhook", "WebhookDelivery")
    hook = webhook_model.objects.create(
        url="https://hooks.example.com/a", event_types=["product.created"]
    )
    webhook_model.objects.create(url="https://hooks.example.com/b", event_types=["product.created"])
    webhook_model.objects.create(
        url="https://hooks.example.com/c", event_types=["product.created"], is_enabled=False
    )
    statuses = ["succeeded"] * 3 + ["failed"] * 2 + ["retrying", "pending"]
    for number, status in enumerate(statuses):
        delivery_model.objects.create(
            webhook=hook,
            message_id=f"msg-{number}",
            event_type="product.created",
            status=status,
            request_url=hook.url,
            request_body="{}",
            scheduled_for=timezone.now(),
        )


def test_stats_count_products_imports_and_webhook_outcomes(viewer):
    Product.objects.bulk_create(
        Product(sku=f"S-{n}", name="x", price=Decimal(1), is_active=n % 4 != 0) for n in range(8)
    )
    import_run = apps.get_model("import_manager", "ImportRun")
    for number in range(3):
        job = Job.objects.create(kind="catalog.import")
        import_run.objects.create(job=job, filename=f"{number}.csv", file_format="csv")
    import_run.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=8))
    Job.objects.create(kind="diagnostics.echo")
    add_webhook_rows()

    with CaptureQueriesContext(connection) as captured:
        response = viewer.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "total_products": 8,
        "active_products": 6,
        "recent_imports": 2,
        "configured_webhooks": 2,
        "total_events_sent": 3,
        "failed_events": 2,
    }
    stats_queries = [
        q
        for q in captured.captured_queries
        if any(table in q["sql"] for table in ("product_product", "import_manager_", "webhook_"))
    ]
    assert len(stats_queries) == 4


def test_stats_of_an_empty_platform_are_zeros(viewer):
    assert viewer.get(URL).json() == {
        "total_products": 0,
        "active_products": 0,
        "recent_imports": 0,
        "configured_webhooks": 0,
        "total_events_sent": 0,
        "failed_events": 0,
    }


def test_webhook_figures_are_zero_without_the_webhook_models(viewer, monkeypatch, make_product):
    make_product()
    real_get_model = apps.get_model

    def without_webhooks(app_label, model_name=None, **kwargs):
        if app_label == "webhook":
            raise LookupError(f"No installed app with label '{app_label}'.")
        return real_get_model(app_label, model_name, **kwargs)

    monkeypatch.setattr(apps, "get_model", without_webhooks)
    body = viewer.get(URL).json()
    assert body["total_products"] == 1
    assert body["configured_webhooks"] == body["total_events_sent"] == 0
    assert body["failed_events"] == 0


def test_stats_need_a_signed_in_user(api_client):
    assert api_client.get(URL).status_code in (401, 403)
