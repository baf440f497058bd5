from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.fields import EncryptedTextField
from core.models import TimeStampedModel
from webhook.services.headers import validate_custom_headers
from webhook.services.signing import generate_secret

MIN_TIMEOUT = 1
MAX_TIMEOUT = 30


class EventType(models.TextChoices):
    PRODUCT_CREATED = "product.created", "Product created"
    PRODUCT_UPDATED = "product.updated", "Product updated"
    PRODUCT_DELETED = "product.deleted", "Product deleted"
    IMPORT_COMPLETED = "import.completed", "Import completed"
    CODES_POOL_LOW = "codes.pool_low", "Code pool low"


#: Sent only by the "test" action; receivers that dispatch on event_type ignore it safely.
TEST_EVENT_TYPE = "webhook.test"


class Webhook(TimeStampedModel):
    """An outbound subscription: platform events of `event_types` are POSTed to `url`."""

    name = models.CharField(max_length=200, blank=True, default="")
    url = models.URLField(max_length=2000)
    event_types = ArrayField(
        models.CharField(max_length=64, choices=EventType.choices),
        help_text="Events this webhook receives.",
    )
    is_enabled = models.BooleanField(default=True)
    # Encrypted at rest, not hashed: each request is signed with it, so it must be
    # recoverable. Never serialized, shown in the admin or logged; shown once on create.
    secret = EncryptedTextField(default=generate_secret, editable=False)
    headers = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_custom_headers],
        help_text='Extra request headers, e.g. {"Authorization": "Bearer ..."}.',
    )
    timeout = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(MIN_TIMEOUT), MaxValueValidator(MAX_TIMEOUT)],
        help_text=f"Seconds to wait for the receiver ({MIN_TIMEOUT} to {MAX_TIMEOUT}).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            # Event fan-out asks "enabled webhooks whose event_types contain X".
            GinIndex(fields=["event_types"], name="webhook_event_types_gin"),
            models.Index(fields=["is_enabled"], name="webhook_is_enabled"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout__gte=MIN_TIMEOUT, timeout__lte=MAX_TIMEOUT),
                name="webhook_timeout_range",
            ),
            models.CheckConstraint(condition=~models.Q(url=""), name="webhook_url_not_empty"),
            models.CheckConstraint(
                condition=~models.Q(event_types=[])
                & models.Q(event_types__contained_by=EventType.values),
                name="webhook_event_types_known",
            ),
        ]

    def __str__(self):
        return self.name or self.url
