import django_filters

from codes.models import Code, EmailMessage, EmailStatus
from codes.services.codes import with_code_text
from core.filters import CreatedRangeFilterSet


class EmailMessageFilter(CreatedRangeFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=EmailStatus.choices)
    to = django_filters.CharFilter(
        method="filter_to", max_length=320, help_text="An address among the recipients (to)."
    )
    reference = django_filters.CharFilter(max_length=200)
    message_id = django_filters.CharFilter(max_length=255)
    code = django_filters.CharFilter(
        method="filter_code", max_length=200, help_text="Emails handing out this code (any case)."
    )

    class Meta:
        model = EmailMessage
        fields = ["status", "to", "reference", "message_id", "code"]

    def filter_code(self, queryset, name, value):
        return queryset.filter(code__in=with_code_text(Code.objects.all(), value))

    def filter_to(self, queryset, name, value):
        return queryset.filter(to__contains=[value])
