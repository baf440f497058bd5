"""Model fields shared by every app."""

from __future__ import annotations

from django import forms
from django.db import models

from core.services import field_encryption

#: What the admin's secret input returns when left empty: keep the stored value.
KEEP_STORED = object()


class SecretFormField(forms.CharField):
    """A password input that never shows the stored value; left empty, the value is kept."""

    widget = forms.PasswordInput(render_value=False)

    def __init__(self, **kwargs):
        kwargs["required"] = False  # empty means "keep"; the model checks blank on save
        kwargs.setdefault("strip", False)
        kwargs.setdefault("help_text", "Stored encrypted and never shown; leave empty to keep it.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ""  # the stored secret never reaches the page

    def clean(self, value):
        if value in self.empty_values:
            return KEEP_STORED
        return super().clean(value)

    def has_changed(self, initial, data):
        return data not in self.empty_values


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token (core.services.field_encryption) and read back in clear.

    Python code sees the plaintext; the column holds ciphertext. Tokens differ on every write,
    so the column cannot be searched or compared: only `isnull` lookups are allowed, and the
    column is never indexed or unique. Never put one in `search_fields` or `list_display`.
    """

    description = "Text encrypted at rest"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        return field_encryption.encrypt(str(value))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return field_encryption.decrypt(value)

    def get_lookup(self, lookup_name):
        # Any other comparison would silently compare ciphertexts and never match.
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None

    def formfield(self, **kwargs):
        # TextField would pass a Textarea, which shows the value.
        widget = forms.PasswordInput(render_value=False)
        return super().formfield(**{"form_class": SecretFormField, "widget": widget, **kwargs})

    def save_form_data(self, instance, data):
        if data is KEEP_STORED:
            return
        super().save_form_data(instance, data)

    def value_to_string(self, obj):
        return ""  # dumpdata and serializers never export a secret
