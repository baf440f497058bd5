"""What webhooks show on the operator console's home page (core.services.console)."""

from core.services import console
from webhook.models import DeliveryStatus, InboundEvent, InboundStatus, WebhookDelivery


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


def inbound_figures(user) -> list[console.Figure]:
    """Received events whose handler failed (replayable from the list)."""
    failed = InboundEvent.objects.filter(status=InboundStatus.FAILED).count()
    return [
        console.Figure(
            "failed_inbound_events",
            "Failed inbound events",
            failed,
            "admin:webhook_inboundevent_changelist",
            {"status__exact": InboundStatus.FAILED},
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
    console.register_figures(
        "webhook.inbound",
        inbound_figures,
        permission="webhook.view_inboundevent",
        order=41,
    )
