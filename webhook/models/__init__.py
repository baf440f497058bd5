from .delivery import DeliveryStatus, WebhookDelivery
from .inbound import InboundEvent, InboundStatus
from .webhook import TEST_EVENT_TYPE, EventType, Webhook

__all__ = [
    "TEST_EVENT_TYPE",
    "DeliveryStatus",
    "EventType",
    "InboundEvent",
    "InboundStatus",
    "Webhook",
    "WebhookDelivery",
]
