from django.db import models


class DeviceType(models.TextChoices):
    DESKTOP = "desktop", "Desktop"
    MOBILE = "mobile", "Mobile"
    TABLET = "tablet", "Tablet"
    BOT = "bot", "Bot"
    OTHER = "other", "Other"


class LinkClick(models.Model):
    """One click on a short link, as the click writer stored it from the queue.

    The id is made in the request, so writing the same queued click twice (a writer that
    died between its commit and trimming the queue) stores it once. The visitor's IP is
    never stored: `visitor` is a salted hash of it (see codes.services.clicks).
    """

    id = models.UUIDField(primary_key=True)
    link = models.ForeignKey("codes.Link", on_delete=models.CASCADE, related_name="click_log")
    clicked_at = models.DateTimeField()
    referrer = models.CharField(max_length=1000, blank=True, default="")
    referrer_host = models.CharField(max_length=255, blank=True, default="")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    browser = models.CharField(max_length=100, blank=True, default="")
    browser_version = models.CharField(max_length=50, blank=True, default="")
    os = models.CharField(max_length=100, blank=True, default="")
    os_version = models.CharField(max_length=50, blank=True, default="")
    device = models.CharField(max_length=100, blank=True, default="")
    device_type = models.CharField(max_length=16, choices=DeviceType.choices)
    is_bot = models.BooleanField(default=False)
    visitor = models.CharField(max_length=32)
    # The code the link promoted when the click was written: clicks credited to codes.
    code = models.ForeignKey(
        "codes.Code",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-clicked_at"]
        indexes = [
            models.Index(fields=["link", "clicked_at"], name="codes_click_link_time"),
            models.Index(
                fields=["code", "clicked_at"],
                condition=models.Q(code__isnull=False),
                name="codes_click_code_time",
            ),
        ]

    def __str__(self):
        return f"{self.link_id} {self.clicked_at:%Y-%m-%d %H:%M:%S}"
