"""Serializers of the inbound inbox: the Make.com event envelope and the stored events."""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import StrictModelSerializer, StrictSerializer, TypeStrictMixin
from webhook.models import InboundEvent

EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


@extend_schema_field(
    {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}]}
)
class EventIdField(serializers.CharField):
    """An event id: text, or a whole number (sent as JSON number by some scenarios)."""

    json_types = (str, int)  # core.api.serializers.type_error

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        return super().to_internal_value(str(data))


class MakeEventSerializer(TypeStrictMixin, serializers.Serializer):
    """The envelope of a Make.com event (seed 003). Other fields (`order`, ...) are the
    event's data: kept as sent, for its handler."""

    event_id = EventIdField(max_length=200, trim_whitespace=True)
    event_type = serializers.RegexField(
        EVENT_TYPE_RE,
        max_length=100,
        error_messages={"invalid": "Letters, digits and . _ : / - only (e.g. order.created)."},
    )


class InboundEventSerializer(StrictModelSerializer):
    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "source",
            "event_id",
            "event_type",
            "status",
            "outcome",
            "error_code",
            "error",
            "attempts",
            "duplicates",
            "received_at",
            "processed_at",
            "last_duplicate_at",
            "duration_ms",
            "replayed_by",
            "body_sha256",
            "payload",
        ]
        read_only_fields = fields


class InboundReceiptSerializer(serializers.Serializer):
    """What the receiver answers (2xx): the stored event's state."""

    ok = serializers.BooleanField()
    id = serializers.IntegerField()
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.CharField()
    duplicate = serializers.BooleanField()
    outcome = serializers.DictField()
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)


class ReplayRequestSerializer(StrictSerializer):
    """No fields: the stored payload is replayed as received."""


def receipt_data(receipt) -> dict:
    event = receipt.event
    return {
        "ok": receipt.failure is None,
        "id": event.pk,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "status": event.status,
        "duplicate": receipt.duplicate,
        "outcome": event.outcome,
        "received_at": event.received_at,
        "processed_at": event.processed_at,
    }
