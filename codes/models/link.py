from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from core.models import TimeStampedModel


class Link(TimeStampedModel):
    """A short link: /l/<short_id> answers 302 to `target_url` with the UTM parameters merged
    in, and every click is recorded (LinkClick) without delaying the redirect.

    `short_id` is unique in any case (matched case-insensitively, shown as created).
    """

    short_id = models.CharField(max_length=64)
    title = models.CharField(max_length=200, blank=True, default="")
    target_url = models.CharField(max_length=2000)
    utm_source = models.CharField(max_length=200, blank=True, default="")
    utm_medium = models.CharField(max_length=200, blank=True, default="")
    utm_campaign = models.CharField(max_length=200, blank=True, default="")
    utm_term = models.CharField(max_length=200, blank=True, default="")
    utm_content = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    # Where an expired link sends visitors (302); empty: 410 Gone.
    expired_url = models.CharField(max_length=2000, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # The code this link promotes: its clicks are credited to it (LinkClick.code).
    code = models.ForeignKey(
        "codes.Code", null=True, blank=True, on_delete=models.SET_NULL, related_name="links"
    )
    # Kept by the click writer, in the transaction that stores the clicks.
    clicks = models.PositiveBigIntegerField(default=0)
    bot_clicks = models.PositiveBigIntegerField(default=0)
    last_clicked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("short_id"), name="codes_link_short_id_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(short_id__regex=r"^[A-Za-z0-9_-]{1,64}$"),
                name="codes_link_short_id_chars",
            ),
        ]

    def __str__(self):
        return self.short_id

    @property
    def human_clicks(self) -> int:
        return self.clicks - self.bot_clicks
