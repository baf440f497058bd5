"""Code list filters (GET /api/codes), shared by the API, the admin export and bulk jobs."""

import django_filters
from django.db.models import Q
from django.db.models.functions import Collate, Lower
from django.utils import timezone

from core.filters import CreatedRangeFilterSet, IsoDateTimeFilter, StrictBooleanFilter

from .models import Code, CodeStatus
from .rules import CODE_MAX_LENGTH, CODE_TYPE_MAX_LENGTH


class CodeOrderingFilter(django_filters.OrderingFilter):
    """Sorts by the given field, then by id (pages never overlap). `code` sorts by its
    lower-case text in byte order, which the unique index on lower(code) serves."""

    EXPRESSIONS = {"code": Collate(Lower("code"), "C")}

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        ordering = []
        for param in value:
            descending = param.startswith("-")
            name = param.lstrip("-")
            expression = self.EXPRESSIONS.get(name)
            if expression is None:
                ordering.append(param)
            else:
                ordering.append(expression.desc() if descending else expression.asc())
        return qs.order_by(*ordering, "-id" if value[-1].startswith("-") else "id")


class CodeFilter(CreatedRangeFilterSet):
    code_type = django_filters.CharFilter(
        field_name="code_type_id", max_length=CODE_TYPE_MAX_LENGTH, help_text="A code type."
    )
    type = django_filters.CharFilter(
        field_name="code_type_id", max_length=CODE_TYPE_MAX_LENGTH, help_text="Same as code_type."
    )
    status = django_filters.MultipleChoiceFilter(choices=CodeStatus.choices)
    campaign = django_filters.CharFilter(max_length=128, help_text="Exact campaign / event.")
    batch = django_filters.NumberFilter(
        field_name="batch_id", min_value=1, help_text="The id of the batch the codes came from."
    )
    prefix = django_filters.CharFilter(
        method="filter_prefix",
        max_length=CODE_MAX_LENGTH,
        help_text="Codes starting with this text, in any letter case.",
    )
    reference = django_filters.CharFilter(
        max_length=255, help_text="Allocated or used for this reference."
    )
    used_after = IsoDateTimeFilter(
        field_name="used_at", lookup_expr="gte", help_text="Used at or after this time."
    )
    used_before = IsoDateTimeFilter(
        field_name="used_at", lookup_expr="lt", help_text="Used before this time."
    )
    expired = StrictBooleanFilter(method="filter_expired", help_text="Past their expiry.")
    ordering = CodeOrderingFilter(
        fields=["created_at", "used_at", "expires_at", "code"],
        help_text="created_at, used_at, expires_at or code; `-` for descending.",
    )

    class Meta:
        model = Code
        fields = []

    def filter_prefix(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.alias(code_lower=Lower("code")).filter(
            code_lower__startswith=value.strip().lower()
        )

    def filter_expired(self, queryset, name, value):
        if value is None:
            return queryset
        expired = Q(expires_at__lte=timezone.now())
        return queryset.filter(expired) if value else queryset.exclude(expired)
