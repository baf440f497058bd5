from django.conf import settings
from django.db import models
from django.utils import timezone


class InboundStatus(models.TextChoices):
    # Claimed, its handler running: only ever seen inside the claiming transaction.
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"  # the handler's effects are committed with it
    IGNORED = "ignored", "Ignored"  # no handler for its type: stored and acknowledged
    FAILED = "failed", "Failed"  # the handler raised, its effects rolled back: replayable


class InboundEvent(models.Model):
    """One event another system sent us (Make.com, Shopify, ...), kept once per event id.

    The row is claimed under the unique (source, event_id) constraint in the transaction
    that applies the handler's effects, so a retried event can never apply them twice. A
    failed handler's effects are rolled back while the row, marked `failed`, is committed.
    """

    source = models.CharField(max_length=32)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100)
    # SHA-256 of the canonical JSON of the payload: a retry must carry the same body.
    body_sha256 = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=InboundStatus.choices, default=InboundStatus.RECEIVED
    )
    # What the handler did ({"code": ..., "email_id": ...}) or why the event was ignored.
    outcome = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)  # handler runs (first one, retries, replays)
    duplicates = models.PositiveIntegerField(default=0)  # retries answered `duplicate: true`
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)  # end of the last attempt
    last_duplicate_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)  # of the last attempt
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["-received_at"], name="webhook_inbound_received"),
            models.Index(fields=["status", "-received_at"], name="webhook_inbound_status"),
            models.Index(fields=["event_type", "-received_at"], name="webhook_inbound_type"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "event_id"], name="webhook_inbound_source_event_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=InboundStatus.values),
                name="webhook_inbound_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.source} {self.event_type} {self.event_id}"
