from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower

from core.models import TimeStampedModel


class Product(TimeStampedModel):
    """A sellable item of the catalog. SKUs are unique case-insensitively."""

    sku = models.CharField(max_length=255)
    name = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    compare_at_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    stock_quantity = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    category = models.CharField(max_length=255, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    image_urls = ArrayField(models.TextField(), default=list, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Substring filters on name/description use trigram indexes, not a seq scan.
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="product_name_trgm"),
            GinIndex(
                fields=["description"], opclasses=["gin_trgm_ops"], name="product_description_trgm"
            ),
            # Added by 0002 (built concurrently): `search` matches SKU substrings too, and the
            # sortable columns without an index would sort the whole table for one page.
            GinIndex(fields=["sku"], opclasses=["gin_trgm_ops"], name="product_sku_trgm"),
            # On lower(name), not name: a btree on name lets the planner answer `name ILIKE`
            # by an index-only scan of all 500k names, which it underprices (measured: 3-5x
            # slower than the trigram index). Sorting by name is case-insensitive anyway.
            models.Index(Lower("name"), "id", name="product_name_lower_id"),
            models.Index(fields=["stock_quantity", "id"], name="product_stock_id"),
            models.Index(fields=["is_active"], name="product_is_active"),
            models.Index(fields=["category"], name="product_category"),
            models.Index(fields=["price"], name="product_price"),
            models.Index(fields=["updated_at"], name="product_updated_at"),
        ]
        constraints = [
            models.UniqueConstraint(Lower("sku"), name="product_sku_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="product_price_non_negative"
            ),
            models.CheckConstraint(condition=~models.Q(sku=""), name="product_sku_not_empty"),
        ]

    def __str__(self):
        return f"{self.sku} — {self.name}"
