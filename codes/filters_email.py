import django_filters

from codes.models import EmailMessage, EmailStatus
from core.filters import CreatedRangeFilterSet


class EmailMessageFilter(CreatedRangeFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=EmailStatus.choices)
    to = django_filters.CharFilter(
        method="filter_to", max_length=320, help_text="An address among the recipients (to)."
    )
    reference = django_filters.CharFilter(max_length=200)
    message_id = django_filters.CharFilter(max_length=255)

    class Meta:
        model = EmailMessage
        fields = ["status", "to", "reference", "message_id"]

    def filter_to(self, queryset, name, value):
        return queryset.filter(to__contains=[value])
