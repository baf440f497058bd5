"""What webhooks show on the operator console's home page (core.services.console)."""

from core.services import console
from webhook.models import DeliveryStatus, WebhookDelivery


def delivery_figures(user) -> list[console.Figure]:
    """Deliveries that failed for good (no attempt left; they can be re-sent by hand)."""
    failed = WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).count()
    return [
        console.Figure(
            "failed_deliveries",
            "Failed webhook deliveries",
            failed,
            "admin:webhook_webhookdelivery_changelist",
            {"status__exact": DeliveryStatus.FAILED},
            alert=True,
        )
    ]


def register_console() -> None:
    console.register_figures(
        "webhook.deliveries",
        delivery_figures,
        permission="webhook.view_webhookdelivery",
        order=40,
    )
