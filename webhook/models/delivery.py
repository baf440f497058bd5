from django.db import models

from core.models import TimeStampedModel

from .webhook import Webhook


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # queued; `scheduled_for` says when it is due
    SENDING = "sending", "Sending"  # a worker is making this attempt right now
    SUCCEEDED = "succeeded", "Succeeded"  # the receiver answered 2xx
    RETRYING = "retrying", "Failed, will retry"  # a later attempt is scheduled
    FAILED = "failed", "Failed"  # final: no further attempt (can be re-sent by hand)


class WebhookDelivery(TimeStampedModel):
    """One attempt to deliver one event to one webhook.

    All attempts of an event share `message_id` (the `webhook-id` header, so receivers can
    de-duplicate) and are numbered by `attempt`. A failed attempt that will be retried is
    marked `retrying` and its successor is created `pending` with `scheduled_for` set.
    """

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    attempt = models.PositiveSmallIntegerField(default=1)
    # The attempt number up to which this series is retried automatically. A manual re-send
    # starts a new series, so it gets a fresh budget.
    max_attempts = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    is_test = models.BooleanField(default=False)
    resend_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_url = models.URLField(max_length=2000)
    # Credential-like custom header values are masked here: this row is a log.
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    scheduled_for = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_by_webhook"),
            models.Index(fields=["status", "scheduled_for"], name="webhook_delivery_due"),
            models.Index(fields=["event_type"], name="webhook_delivery_event_type"),
        ]
        constraints = [
            # Two workers can never both record "attempt 3" of one event. Its index also
            # serves look-ups by message_id.
            models.UniqueConstraint(
                fields=["message_id", "attempt"], name="webhook_delivery_message_attempt_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(attempt__gte=1), name="webhook_delivery_attempt_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values),
                name="webhook_delivery_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} → webhook {self.webhook_id} (attempt {self.attempt})"

    @property
    def is_final(self) -> bool:
        return self.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)
