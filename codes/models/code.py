from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from core.models import TimeStampedModel

from ..ids import uuid7
from ..rules import CODE_MAX_LENGTH
from .batch import CodeBatch
from .code_type import CodeType


class CodeStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    USED = "used", "Used"
    REVOKED = "revoked", "Revoked"


def _user(related_name: str):
    # No index: four user indexes would slow every bulk load for the rare user deletion.
    # No database constraint either: each foreign key costs a trigger and a lookup per
    # inserted row (~3 s per million codes, per key). These are audit columns; Django's
    # SET_NULL (its collector, on deleting a user through the ORM) still clears them.
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
        db_index=False,
        db_constraint=False,
    )


class Code(TimeStampedModel):
    """A discount or access code: `available` → `used` (allocated, or marked used), or
    `revoked` (with a reason).

    The text is stored as typed and unique regardless of letter case (a unique index on
    `lower(code)`, which also serves prefix searches). A code is never consumed implicitly:
    only an allocation or an explicit mark-used makes it `used`. An expired code keeps its
    status but is never handed out.
    """

    # Time-ordered (UUIDv7): bulk loads append to the index, and id order is creation order.
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No index of its own: lists sort by id, which is creation order (one index fewer for
    # every bulk load to maintain).
    created_at = models.DateTimeField(auto_now_add=True)
    code = models.CharField(max_length=CODE_MAX_LENGTH)
    # No database constraint (as for the keys below): its check at commit cost ~5 s of a
    # million-code load. Codes get their type through `ensure_code_types` (services), form
    # and serializer choices, or create-codes' insert, which joins the types and holds them
    # FOR KEY SHARE until it commits; PROTECT is Django's (a type with codes is not deleted
    # through the ORM or the admin).
    code_type = models.ForeignKey(
        CodeType,
        on_delete=models.PROTECT,
        db_column="code_type",
        related_name="codes",
        db_index=False,  # (code_type, status) below serves it
        db_constraint=False,
    )
    status = models.CharField(
        max_length=16, choices=CodeStatus.choices, default=CodeStatus.AVAILABLE
    )
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    discount_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    #: The campaign or (ticketing) event the code belongs to.
    campaign = models.CharField(max_length=128, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    #: What it was allocated or used for: an order id, a buyer's email.
    reference = models.CharField(max_length=255, blank=True, default="")
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = _user("+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = _user("+")
    revoked_reason = models.TextField(blank=True, default="")
    created_by = _user("+")
    updated_by = _user("+")
    #: The text before the last rename (rename-codes), for the audit trail.
    previous_code = models.CharField(max_length=CODE_MAX_LENGTH, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    #: The bulk batch the code came from (null: created one by one). Indexed (the `batch`
    #: filter) but without a database constraint, for the same reason as the users above:
    #: the batch row exists before its job inserts codes, and is deleted only through the
    #: ORM (which sets this to null).
    batch = models.ForeignKey(
        CodeBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="codes",
        db_constraint=False,
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Allocation: the next available code of a type, soonest expiry first, then codes
            # that never expire, oldest (lowest id) first. Two partial indexes so that expired
            # codes are skipped by the index range (`expires_at > now()`), not read one by one.
            models.Index(
                fields=["code_type", "expires_at", "id"],
                condition=Q(status="available", expires_at__isnull=False),
                name="codes_code_available_expiring",
            ),
            models.Index(
                fields=["code_type", "id"],
                condition=Q(status="available", expires_at__isnull=True),
                name="codes_code_available_open",
            ),
            models.Index(fields=["code_type", "status"], name="codes_code_type_status"),
            models.Index(fields=["campaign"], name="codes_code_campaign"),
            models.Index(
                fields=["used_at"], condition=Q(used_at__isnull=False), name="codes_code_used_at"
            ),
        ]
        constraints = [
            # text_pattern_ops: the same index answers equality and `lower(code) LIKE 'pre%'`.
            models.UniqueConstraint(
                OpClass(Lower("code"), name="text_pattern_ops"), name="codes_code_ci_unique"
            ),
            models.CheckConstraint(condition=~Q(code=""), name="codes_code_not_blank"),
            models.CheckConstraint(
                condition=Q(status__in=CodeStatus.values), name="codes_code_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__isnull=True)
                | Q(discount_percent__gte=0, discount_percent__lte=100),
                name="codes_code_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(discount_amount__isnull=True) | Q(discount_amount__gte=0),
                name="codes_code_amount_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__isnull=True) | Q(discount_amount__isnull=True),
                name="codes_code_percent_or_amount",
            ),
        ]

    def __str__(self):
        return self.code

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def allocated_at(self):
        """When it was handed out (the seed's name for `used_at`)."""
        return self.used_at
