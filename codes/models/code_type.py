from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from core.models import TimeStampedModel

from ..rules import CODE_TYPE_MAX_LENGTH, CODE_TYPE_RE


def default_low_water_mark() -> int:
    return settings.CODES_DEFAULT_LOW_WATER_MARK


class CodeType(TimeStampedModel):
    """A kind of code (`discount`, `access`, ...) and its settings.

    Created on first use (a code of a new type creates its type with the defaults), edited in
    the admin. `pool_low_since` is set when the `pool_low` signal fired for the type, and
    cleared once the pool is back at its low-water mark, so that one shortage sends one event.
    """

    slug = models.CharField(
        primary_key=True,
        max_length=CODE_TYPE_MAX_LENGTH,
        validators=[RegexValidator(f"^{CODE_TYPE_RE.pattern}$")],
        help_text="Short lower-case name: discount, access, vip-2025.",
    )
    name = models.CharField(max_length=100, blank=True, default="")
    low_water_mark = models.PositiveIntegerField(
        default=default_low_water_mark,
        help_text="When fewer codes than this are left to allocate, `codes.pool_low` is sent "
        "(0: never).",
    )
    default_discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Discount of new codes of this type that name none.",
    )
    shopify_discount_id = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Shopify discount (gid://shopify/DiscountCodeNode/…) that create-codes adds "
        "this type's new codes to, when a store is configured.",
    )
    pool_low_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug
