import django_filters

from core.filters import IsoDateTimeFilter
from webhook.models import InboundEvent, InboundStatus


class InboundEventFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=InboundStatus.choices)
    source = django_filters.CharFilter(max_length=32)
    event_type = django_filters.CharFilter(max_length=100)
    event_id = django_filters.CharFilter(max_length=200)
    received_after = IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="Received at or after (ISO 8601)."
    )
    received_before = IsoDateTimeFilter(
        field_name="received_at", lookup_expr="lt", help_text="Received before (ISO 8601)."
    )
    processed_after = IsoDateTimeFilter(
        field_name="processed_at", lookup_expr="gte", help_text="Last attempt ended at or after."
    )
    processed_before = IsoDateTimeFilter(
        field_name="processed_at", lookup_expr="lt", help_text="Last attempt ended before."
    )

    class Meta:
        model = InboundEvent
        fields = ["status", "source", "event_type", "event_id"]
