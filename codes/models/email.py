from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from core.models import TimeStampedModel


class EmailTemplate(TimeStampedModel):
    """A stored email: subject, text and HTML in the Django template language, rendered with
    the context a send request gives (`{{ code }}`, `{{ order.id }}`). HTML is autoescaped,
    subject and text are not."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True, default="")
    subject = models.CharField(max_length=998)
    text_body = models.TextField(blank=True, default="")
    html_body = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(text_body="", html_body=""),
                name="codes_emailtemplate_has_body",
            ),
        ]

    def __str__(self):
        return self.name


class EmailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # waiting for its first attempt
    SENDING = "sending", "Sending"  # an attempt is talking to the server now
    RETRYING = "retrying", "Temporary failure, will retry"  # `next_attempt_at` says when
    SENT = "sent", "Sent"  # the server accepted it
    FAILED = "failed", "Failed"  # final: a 5xx, the attempts used up, or the outcome unknown


class EmailMessage(TimeStampedModel):
    """One email the platform sends, with every attempt's outcome: the outbox and its log.

    Rendered when queued, so the row shows exactly what was sent. `message_id` (the
    Message-ID header) is fixed then too: every attempt sends the same one. A unique
    `idempotency_key` makes a repeated request return this message instead of a second one.
    """

    to = ArrayField(models.CharField(max_length=320))
    cc = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    bcc = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    reply_to = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    from_email = models.CharField(max_length=320)
    subject = models.CharField(max_length=998)
    text_body = models.TextField(blank=True, default="")
    html_body = models.TextField(blank=True, default="")
    template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    context = models.JSONField(default=dict, blank=True)
    # What the email is about ("order:fienta-order-456"), for operators and look-ups.
    reference = models.CharField(max_length=200, blank=True, default="")
    # The code this email hands out (the order.created handler's code email).
    code = models.ForeignKey(
        "codes.Code", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # SHA-256 of the request: a key reused for a different email is refused.
    request_digest = models.CharField(max_length=64, blank=True, default="")
    message_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(
        max_length=16, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=1)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The server's reply to the last failed attempt ("451 4.7.1 Try again later").
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # One entry per attempt: {attempt, at, outcome, smtp_code, reply}.
    history = models.JSONField(default=list, blank=True)
    # The job of the latest attempt (all of them: core.services.jobs.jobs_about(message)).
    job = models.ForeignKey(
        "core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="codes_email_due"),
            models.Index(fields=["reference"], name="codes_email_reference"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=EmailStatus.values), name="codes_email_status_valid"
            ),
            models.CheckConstraint(condition=~models.Q(to=[]), name="codes_email_has_recipient"),
        ]

    def __str__(self):
        return f"{self.subject} → {', '.join(self.to)}"

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]
