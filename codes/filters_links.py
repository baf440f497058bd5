import django_filters

from codes.models import Code, Link
from codes.services.codes import with_code_text
from core.filters import CreatedRangeFilterSet, StrictBooleanFilter


class LinkFilter(CreatedRangeFilterSet):
    is_active = StrictBooleanFilter()
    code = django_filters.CharFilter(
        method="filter_code", max_length=200, help_text="Links promoting this code (any case)."
    )

    class Meta:
        model = Link
        fields = ["is_active", "utm_source", "utm_medium", "utm_campaign", "code"]

    def filter_code(self, queryset, name, value):
        return queryset.filter(code__in=with_code_text(Code.objects.all(), value))
