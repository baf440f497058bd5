"""Serializer building blocks shared by every app."""

from rest_framework import serializers


class StrictFieldsMixin:
    """Reject fields the serializer does not know, instead of silently ignoring them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            known = set(self.fields)
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    """Unknown fields are refused (400 naming them)."""


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """Unknown fields are refused (400 naming them); read-only fields are ignored."""


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    """Documents the error shape in the OpenAPI schema."""

    error = ErrorDetailSerializer()
