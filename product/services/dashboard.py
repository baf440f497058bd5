"""Figures for the operator dashboard, each from one aggregate query."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.db.models import Count, Q
from django.utils import timezone

from product.models import Product

RECENT_IMPORTS_DAYS = 7


def dashboard_stats() -> dict[str, int]:
    """Catalog, import and webhook figures: four aggregate queries at most.

    Counts are exact (no pg_class estimates): at 500k products the product figures are one
    index-only scan of the smallest index.
    """
    return {**catalog_counts(), "recent_imports": recent_imports(), **webhook_stats()}


def catalog_counts() -> dict[str, int]:
    """All products and the active ones, in one aggregate (also the operator console's)."""
    # Counting `*` and `is_active` rather than `id`: the small is_active index then covers
    # the whole query (an index-only scan) instead of a scan of the wide table.
    products = Product.objects.order_by().aggregate(
        total=Count("*"), active=Count("is_active", filter=Q(is_active=True))
    )
    return {"total_products": products["total"], "active_products": products["active"]}


def recent_imports() -> int:
    """Catalog imports started in the last RECENT_IMPORTS_DAYS days (0 without the import app).

    Looked up by model name, like the webhook figures: the import app depends on the product
    app, not the other way round.
    """
    try:
        import_run = apps.get_model("import_manager", "ImportRun")
    except LookupError:
        return 0
    since = timezone.now() - timedelta(days=RECENT_IMPORTS_DAYS)
    return import_run.objects.filter(created_at__gte=since).count()


def webhook_stats() -> dict[str, int]:
    """Enabled webhooks and delivery outcomes; zeros while the webhook models do not exist.

    Looked up by name so the product app does not import the webhook app (apps talk
    through services and signals, and the webhook app may not be installed at all).
    """
    try:
        webhook = apps.get_model("webhook", "Webhook")
        delivery = apps.get_model("webhook", "WebhookDelivery")
    except LookupError:
        return {"configured_webhooks": 0, "total_events_sent": 0, "failed_events": 0}
    deliveries = (
        delivery.objects.order_by()
        .filter(status__in=["succeeded", "failed"])
        .aggregate(
            sent=Count("status", filter=Q(status="succeeded")),
            failed=Count("status", filter=Q(status="failed")),
        )
    )
    return {
        "configured_webhooks": webhook.objects.filter(is_enabled=True).count(),
        "total_events_sent": deliveries["sent"],
        "failed_events": deliveries["failed"],
    }
