"""API serializers of the webhook app. The signing secret appears in exactly one of them:
`WebhookCreatedSerializer`, used for the create (and rotate-secret) response only."""

from django.conf import settings
from rest_framework import serializers

from core.api.serializers import StrictModelSerializer, StrictSerializer
from core.services.ssrf import UnsafeURLError, assert_public_url
from webhook.models import TEST_EVENT_TYPE, EventType, Webhook, WebhookDelivery


class WebhookSerializer(StrictModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        max_length=len(EventType.values),
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "is_enabled",
            "headers",
            "timeout",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]

    def validate_url(self, value):
        # Resolved and checked now for a clear 400; the sender checks again at send time.
        try:
            assert_public_url(value, allowed_networks=settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS)
        except UnsafeURLError as exc:
            raise serializers.ValidationError(exc.message) from None
        return value

    def validate_event_types(self, value):
        return list(dict.fromkeys(value))  # de-duplicated, order kept


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret. Shown only in this response: store it now.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(StrictModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "message_id",
            "event_type",
            "attempt",
            "max_attempts",
            "status",
            "is_test",
            "resend_of",
            "request_url",
            "request_headers",
            "request_body",
            "response_status",
            "response_excerpt",
            "duration_ms",
            "error",
            "scheduled_for",
            "sent_at",
            "finished_at",
            "created_at",
        ]
        read_only_fields = fields


class WebhookTestRequestSerializer(StrictSerializer):
    event_type = serializers.ChoiceField(
        choices=[TEST_EVENT_TYPE, *EventType.values],
        default=TEST_EVENT_TYPE,
        help_text=(
            f"'{TEST_EVENT_TYPE}' (default) sends a ping receivers can ignore; a real event "
            "type sends clearly fake sample data of that type."
        ),
    )


class WebhookTestResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    delivery = WebhookDeliverySerializer()
