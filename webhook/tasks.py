"""Thin Celery tasks of the webhook app; both run on the `webhooks` queue."""

from celery import shared_task

from webhook.services import delivery
from webhook.services.delivery import WEBHOOK_QUEUE


@shared_task(name=delivery.DELIVER_TASK, ignore_result=True, queue=WEBHOOK_QUEUE)
def deliver_webhook(delivery_id: int) -> None:
    """Make one delivery attempt (the service records it and schedules any retry)."""
    delivery.attempt_delivery(delivery_id)


@shared_task(name="webhook.tasks.maintain_deliveries", ignore_result=True, queue=WEBHOOK_QUEUE)
def maintain_deliveries() -> dict:
    """Re-enqueue lost attempts, close interrupted ones, delete old delivery rows."""
    return delivery.maintain_deliveries()
