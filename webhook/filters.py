import django_filters

from core.filters import CreatedRangeFilterSet, StrictBooleanFilter
from webhook.models import DeliveryStatus, EventType, Webhook, WebhookDelivery


class WebhookFilter(django_filters.FilterSet):
    is_enabled = StrictBooleanFilter()
    event_type = django_filters.ChoiceFilter(
        choices=EventType.choices, method="filter_event_type", label="Subscribed to"
    )

    class Meta:
        model = Webhook
        fields = ["is_enabled", "event_type"]

    def filter_event_type(self, queryset, name, value):
        return queryset.filter(event_types__contains=[value])


class WebhookDeliveryFilter(CreatedRangeFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    is_test = StrictBooleanFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event_type", "message_id", "is_test"]
