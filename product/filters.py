"""Product list filters, shared by the API list, the bulk price update and the benchmark."""

import django_filters
from django import forms
from django.db.models import Q
from django.db.models.functions import Lower

from core.filters import (
    MIN_SUBSTRING_LENGTH,
    CreatedRangeFilterSet,
    IsoDateTimeFilter,
    StrictBooleanFilter,
    SubstringFilter,
)
from core.lookups import contains
from product.lookups import sku_equals
from product.models import Product

MAX_SEARCH_TERMS = 5


class SearchTermsField(forms.CharField):
    """Space-separated words → a list of words, each long enough for the trigram index."""

    def clean(self, value):
        if value and not value.strip():
            raise forms.ValidationError("Enter at least one word.", code="blank")
        value = super().clean(value)
        if not value:
            return []
        terms = value.split()
        if len(terms) > MAX_SEARCH_TERMS:
            raise forms.ValidationError(f"Use at most {MAX_SEARCH_TERMS} words.", code="invalid")
        if any(len(term) < MIN_SUBSTRING_LENGTH for term in terms):
            raise forms.ValidationError(
                f"Each word needs at least {MIN_SUBSTRING_LENGTH} characters.", code="min_length"
            )
        return terms


class SearchFilter(django_filters.CharFilter):
    field_class = SearchTermsField
    # For the document (core.schema): 1 to MAX_SEARCH_TERMS words, each long enough.
    schema_pattern = (
        rf"^\s*[^\s\x00]{{{MIN_SUBSTRING_LENGTH},}}"
        rf"(?:\s+[^\s\x00]{{{MIN_SUBSTRING_LENGTH},}}){{0,{MAX_SEARCH_TERMS - 1}}}\s*$"
    )


class ProductOrderingFilter(django_filters.OrderingFilter):
    """Sorts by the given fields, then by id, so that pages never overlap or skip rows.

    `sku` and `name` sort case-insensitively, by `lower(...)`, which their indexes serve.
    """

    EXPRESSIONS = {"sku": Lower("sku"), "name": Lower("name")}

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        ordering = []
        for param in value:
            if param in django_filters.constants.EMPTY_VALUES:
                continue
            descending = param.startswith("-")
            field = self.param_map.get(param.lstrip("-"), param.lstrip("-"))
            expression = self.EXPRESSIONS.get(field)
            if expression is not None:
                ordering.append(expression.desc() if descending else expression.asc())
            else:
                ordering.append(f"-{field}" if descending else field)
        if not any(str(item).lstrip("-") in ("id", "pk") for item in ordering):
            ordering.append("-id" if str(ordering[-1]).startswith("-") else "id")
        return qs.order_by(*ordering)


class ProductFilter(CreatedRangeFilterSet):
    sku = django_filters.CharFilter(
        method="filter_sku", max_length=255, help_text="Exact SKU, case-insensitive."
    )
    name = SubstringFilter(
        field_name="name",
        help_text=f"Name contains this text (case-insensitive, at least "
        f"{MIN_SUBSTRING_LENGTH} characters).",
    )
    description = SubstringFilter(
        field_name="description",
        help_text=f"Description contains this text (case-insensitive, at least "
        f"{MIN_SUBSTRING_LENGTH} characters).",
    )
    is_active = StrictBooleanFilter(help_text="true or false.")
    category = django_filters.CharFilter(max_length=255, help_text="Exact category.")
    price_min = django_filters.NumberFilter(
        field_name="price", lookup_expr="gte", help_text="Price at least this."
    )
    price_max = django_filters.NumberFilter(
        field_name="price", lookup_expr="lte", help_text="Price at most this."
    )
    updated_after = IsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        # Inclusive on purpose: an incremental sync that passes its last seen time gets rows
        # changed in that same instant again rather than missing them.
        help_text="Updated at or after this ISO 8601 time.",
    )
    search = SearchFilter(
        method="filter_search",
        max_length=200,
        help_text=f"Space-separated words; each must occur in the SKU or the name "
        f"(case-insensitive, at least {MIN_SUBSTRING_LENGTH} characters per word).",
    )
    ordering = ProductOrderingFilter(
        fields=(
            "id",
            "sku",
            "name",
            "price",
            "stock_quantity",
            "category",
            "created_at",
            "updated_at",
        ),
        help_text="Comma-separated fields, `-` for descending: id, sku, name, price, "
        "stock_quantity, category, created_at, updated_at.",
    )

    class Meta:
        model = Product
        fields = []

    def filter_sku(self, queryset, name, value):
        return queryset.filter(sku_equals(value.strip()))

    def filter_search(self, queryset, name, terms):
        for term in terms:
            queryset = queryset.filter(Q(contains("sku", term)) | Q(contains("name", term)))
        return queryset
