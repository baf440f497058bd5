import django_filters

from webhook.models import DeliveryStatus, EventType, Webhook, WebhookDelivery


class WebhookFilter(django_filters.FilterSet):
    event_type = django_filters.ChoiceFilter(
        choices=EventType.choices, method="filter_event_type", label="Subscribed to"
    )

    class Meta:
        model = Webhook
        fields = ["is_enabled", "event_type"]

    def filter_event_type(self, queryset, name, value):
        return queryset.filter(event_types__contains=[value])


class WebhookDeliveryFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event_type", "message_id", "is_test"]
