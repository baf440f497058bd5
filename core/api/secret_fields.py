"""Serializer fields for stored secrets: write-only in, a boolean "is set" out."""

from rest_framework import serializers


class SecretField(serializers.CharField):
    """A secret the client may set but never read back (responses omit it)."""

    def __init__(self, **kwargs):
        kwargs["write_only"] = True
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)


class SecretIsSetField(serializers.BooleanField):
    """Whether a secret is stored, without showing it: `api_key_set = SecretIsSetField(
    source="api_key")`."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "Whether the secret is stored (it is never shown).")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return bool(value)
