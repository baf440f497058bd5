"""Serializer building blocks shared by every app."""

from django.http import QueryDict
from rest_framework import serializers

NOT_A_STRING = "Not a valid string."
NOT_A_BOOLEAN = "Must be a valid boolean."
NOT_AN_INTEGER = "A valid integer is required."
NOT_A_NUMBER = "A valid number is required."
NOT_A_DECIMAL = 'A number is required, as a string ("9.90") or a JSON number (9.9).'


BLANK = "This field may not be blank."
FORMATTED_TEXT = (
    serializers.DateTimeField
    | serializers.DateField
    | serializers.TimeField
    | serializers.DurationField
    | serializers.UUIDField
    | serializers.DecimalField
)


NUL_IN_JSON = "Must not contain NUL (\\u0000) characters."


def contains_nul(value) -> bool:
    """NUL anywhere in a JSON value (keys too): PostgreSQL's text and jsonb cannot hold it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def type_error(field, value):
    """Why `value` is not of the JSON type the schema documents for `field` (None: it is).

    DRF coerces: `"true"` and `1` become booleans, `0` a string, `"12"` an integer. The
    document promises types, so a value of another type is refused (400), not converted.
    Lists and dictionaries are checked item by item: `{index: [message]}`.
    """
    if value is None or getattr(field, "read_only", False):
        return None  # null: DRF's own allow_null check
    json_types = getattr(field, "json_types", None)  # a field that takes several types
    if json_types is not None:
        ok = isinstance(value, json_types) and not isinstance(value, bool)
        return None if ok else NOT_A_STRING
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else NOT_A_BOOLEAN
    if isinstance(field, serializers.MultipleChoiceField):
        if not isinstance(value, list):
            return serializers.ListField.default_error_messages["not_a_list"].format(
                input_type=type(value).__name__
            )
        return _item_errors(serializers.ChoiceField(choices=field.choices), enumerate(value))
    if isinstance(field, serializers.ChoiceField):
        keys = list(field.choices)
        if keys and all(isinstance(key, str) for key in keys):
            return None if isinstance(value, str) else NOT_A_STRING
        return None
    if isinstance(field, FORMATTED_TEXT) and isinstance(value, str) and not value.strip():
        # DRF reads "" as null for nullable ones: the document says a formatted string.
        return BLANK
    if isinstance(
        field,
        serializers.CharField
        | serializers.DateTimeField
        | serializers.DateField
        | serializers.TimeField
        | serializers.DurationField
        | serializers.UUIDField,
    ):
        return None if isinstance(value, str) else NOT_A_STRING
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else NOT_AN_INTEGER
    if isinstance(field, serializers.FloatField):
        return None if _is_number(value) else NOT_A_NUMBER
    if isinstance(field, serializers.DecimalField):
        # A JSON number is exact here: DRF reads it through str(), and a float's shortest
        # repr round-trips every value of up to 15 significant digits (max_digits <= 15).
        exact = field.max_digits is not None and field.max_digits <= 15
        return None if isinstance(value, str) or (exact and _is_number(value)) else NOT_A_DECIMAL
    if isinstance(field, serializers.JSONField | serializers.DictField) and contains_nul(value):
        return NUL_IN_JSON
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        return _item_errors(field.child, enumerate(value))
    if isinstance(field, serializers.DictField) and isinstance(value, dict):
        return _item_errors(field.child, value.items())
    if isinstance(field, serializers.ListSerializer) and isinstance(value, list):
        if not isinstance(field.child, StrictFieldsMixin | TypeStrictMixin):
            return _item_errors(field.child, enumerate(value))
        return None
    nested = isinstance(field, serializers.Serializer) and isinstance(value, dict)
    if nested and not isinstance(field, StrictFieldsMixin | TypeStrictMixin):
        return _field_errors(field, value) or None
    return None


def _item_errors(child, items):
    errors = {}
    for key, item in items:
        error = type_error(child, item)
        if error is not None:
            errors[key] = error if isinstance(error, dict) else [error]
    return errors or None


def _field_errors(serializer, data: dict) -> dict:
    errors = {}
    for name, field in serializer.fields.items():
        if field.read_only or field.source == "*" or name not in data:
            continue
        error = type_error(field, data[name])
        if error is not None:
            errors[name] = error if isinstance(error, dict) else [error]
    return errors


def optional_object_body(request) -> dict:
    """The JSON object a request may carry: {} without a body, a 400 for a body that is not
    an object (`null`, a list, a number)."""
    if not request.body:
        return {}
    data = request.data
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
    return data


class TypeStrictMixin:
    """Refuse a value of another JSON type than its field's (a string for a boolean, a number
    for a string...) with a 400, instead of converting it.

    Query strings and form bodies carry only text: they are converted as DRF does. A
    serializer fed such text in a plain dict says so with `type_strict = False`, or its
    view with the context `{"form_values": True}`."""

    type_strict = True

    def to_internal_value(self, data):
        strict = self.type_strict and not self.context.get("form_values")
        if strict and isinstance(data, dict) and not isinstance(data, QueryDict):
            errors = _field_errors(self, data)
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictFieldsMixin(TypeStrictMixin):
    """Reject fields the serializer does not know, instead of silently ignoring them, and
    values of another type than their field's."""

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
