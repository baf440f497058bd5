from .delivery import DeliveryStatus, WebhookDelivery
from .webhook import TEST_EVENT_TYPE, EventType, Webhook

__all__ = ["TEST_EVENT_TYPE", "DeliveryStatus", "EventType", "Webhook", "WebhookDelivery"]
