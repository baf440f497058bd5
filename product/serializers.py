"""Product API payloads. Validation of shapes and ranges lives here; SKU uniqueness is the
service's (the unique index decides, see product.services.catalog)."""

import json
import re
from decimal import Decimal

from rest_framework import serializers

from core.api.serializers import StrictModelSerializer, StrictSerializer, contains_nul
from core.serializers import JobSerializer
from product.columns import BY_NAME, COLUMN_NAMES, MONEY_DIGITS, MONEY_MAX, MONEY_PLACES
from product.filters import ProductFilter
from product.models import Product
from product.services.bulk import PRICE_CHANGE_MODES, PRICE_LIMIT

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_IMAGE_URLS = 50
MAX_ATTRIBUTES_BYTES = 64 * 1024
MONEY = {
    "max_digits": MONEY_DIGITS,
    "decimal_places": MONEY_PLACES,
    "min_value": Decimal("0"),
    "max_value": MONEY_MAX,
}


class ProductSerializer(StrictModelSerializer):
    """A product: its columns (product.columns) between its id and its timestamps."""

    sku = serializers.CharField(max_length=BY_NAME["sku"].max_length)
    name = serializers.CharField(max_length=BY_NAME["name"].max_length)
    price = serializers.DecimalField(**MONEY)
    compare_at_price = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    cost = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    currency = serializers.CharField(
        max_length=3, required=False, help_text="ISO 4217 code, e.g. USD (upper-cased)."
    )
    stock_quantity = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    attributes = serializers.JSONField(
        required=False, help_text='Free-form JSON object, e.g. {"color": "red"}.'
    )
    image_urls = serializers.ListField(
        child=serializers.URLField(max_length=2000), max_length=MAX_IMAGE_URLS, required=False
    )

    class Meta:
        model = Product
        fields = ["id", *COLUMN_NAMES, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_currency(self, value):
        value = value.strip().upper()
        if not CURRENCY_RE.match(value):
            raise serializers.ValidationError("Use a three-letter ISO 4217 code, e.g. USD.")
        return value

    def validate_attributes(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        if contains_nul(value):
            raise serializers.ValidationError("Must not contain NUL (\\u0000) characters.")
        if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_ATTRIBUTES_BYTES:
            raise serializers.ValidationError(
                f"Must be at most {MAX_ATTRIBUTES_BYTES // 1024} KiB."
            )
        return value


class BulkPriceUpdateSerializer(StrictSerializer):
    """One price change over every product matching `filters`, or over the whole catalog
    with `all: true`."""

    mode = serializers.ChoiceField(
        choices=PRICE_CHANGE_MODES,
        help_text="set: price = value; percent: price * (1 + value/100); fixed: price + value.",
    )
    value = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="The new price (set), the percentage (percent, e.g. -15 or 10.5) or the "
        "amount to add (fixed, negative to subtract).",
    )
    ending = serializers.DecimalField(
        max_digits=3,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("0.99"),
        required=False,
        allow_null=True,
        help_text="Charm pricing: keep the whole units and make the cents this, e.g. 0.99 "
        "turns 12.34 into 12.99. Without it prices are rounded to cents (half up).",
    )
    filters = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="The products to change, by the list filters (sku, name, description, "
        "is_active, category, price_min, price_max, updated_after, search); at least one "
        "with a value. Required unless `all` is true.",
    )
    all = serializers.BooleanField(
        default=False,
        help_text="true to change every product of the catalog (then without filters): the "
        "whole catalog is never selected by leaving the filters out.",
    )

    def validate(self, attrs):
        mode, value = attrs["mode"], attrs["value"]
        if mode == "set" and not Decimal("0") <= value <= PRICE_LIMIT:
            raise serializers.ValidationError({"value": [f"Must be 0 to {PRICE_LIMIT}."]})
        if mode == "percent" and not Decimal("-100") <= value <= Decimal("1000"):
            raise serializers.ValidationError({"value": ["Must be -100 to 1000 (percent)."]})
        if mode == "fixed" and abs(value) > PRICE_LIMIT:
            raise serializers.ValidationError({"value": [f"Must be within ±{PRICE_LIMIT}."]})
        if attrs["all"] and "filters" in attrs:
            raise serializers.ValidationError(
                {"all": ["Send either filters or all: true, not both."]}
            )
        if not attrs["all"] and not attrs.get("filters"):
            raise serializers.ValidationError(
                {
                    "filters": [
                        "Say which products to change: give filters, or all: true to change "
                        "every product of the catalog."
                    ]
                }
            )
        return attrs

    def validate_filters(self, value):
        allowed = set(ProductFilter.base_filters) - {"ordering"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise serializers.ValidationError({key: ["Unknown filter."] for key in unknown})
        for key, item in value.items():
            if isinstance(item, dict | list):
                raise serializers.ValidationError({key: ["Must be a single value."]})
        return value


class BulkPriceUpdateResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField(
        allow_null=True,
        help_text="How many products got a different price (null when a job was started).",
    )
    job = JobSerializer(
        allow_null=True,
        help_text="The job changing them, when many products match (its result holds the "
        "count; follow it at /api/jobs/{id}/).",
    )


class BulkDeleteSerializer(StrictSerializer):
    """The confirmation of DELETE /api/products/bulk-delete/ (JSON body or query string)."""

    confirm = serializers.BooleanField(
        help_text="Must be true: this deletes every product of the catalog."
    )

    def validate_confirm(self, value):
        if value is not True:
            raise serializers.ValidationError("Set confirm to true to delete every product.")
        return value


class BulkDeleteResultSerializer(serializers.Serializer):
    deleted = serializers.IntegerField(
        allow_null=True, help_text="Products deleted (null when a job was started)."
    )
    job = JobSerializer(
        allow_null=True,
        help_text="The job deleting them, for a large catalog (follow it at /api/jobs/{id}/).",
    )


class DashboardStatsSerializer(serializers.Serializer):
    total_products = serializers.IntegerField()
    active_products = serializers.IntegerField()
    recent_imports = serializers.IntegerField(help_text="Catalog imports in the last 7 days.")
    configured_webhooks = serializers.IntegerField(help_text="Enabled webhooks.")
    total_events_sent = serializers.IntegerField(help_text="Webhook deliveries that succeeded.")
    failed_events = serializers.IntegerField(help_text="Webhook deliveries that failed.")
