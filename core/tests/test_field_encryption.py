"""Secrets encrypted at rest: the service, the model field, the admin form field, the
serializer fields, the settings checks and key rotation."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from core.api.secret_fields import SecretField, SecretIsSetField
from core.checks import check_field_encryption_keys, check_field_encryption_keys_set
from core.exceptions import UndecryptableSecret
from core.fields import KEEP_STORED, EncryptedTextField, SecretFormField
from core.services import field_encryption

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def api_key_field(**options) -> EncryptedTextField:
    """A stand-alone field (no model: none of core's models stores a secret)."""
    field = EncryptedTextField(**options)
    field.set_attributes_from_name("api_key")
    return field


class Holder:
    def __init__(self, api_key):
        self.api_key = api_key


def test_a_value_is_stored_as_a_token_and_read_back(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    token = field_encryption.encrypt("sk-live-123")
    assert "sk-live-123" not in token
    assert Fernet(NEW_KEY).decrypt(token.encode()) == b"sk-live-123"
    assert field_encryption.decrypt(token) == "sk-live-123"
    assert field_encryption.encrypt("sk-live-123") != token  # a new IV every time


def test_without_keys_the_key_is_derived_from_secret_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    token = field_encryption.encrypt("x")
    assert Fernet(field_encryption.derived_key(settings.SECRET_KEY)).decrypt(token.encode()) == b"x"
    assert check_field_encryption_keys_set(None)[0].id == "core.W010"
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert check_field_encryption_keys_set(None) == []


def test_old_keys_still_decrypt_and_the_newest_encrypts(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    old_token = field_encryption.encrypt("token")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert field_encryption.decrypt(old_token) == "token"
    assert Fernet(NEW_KEY).decrypt(field_encryption.encrypt("token").encode()) == b"token"
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(UndecryptableSecret, match="rotate_field_encryption"):
        field_encryption.decrypt(old_token)


def test_a_malformed_key_is_a_start_up_error_naming_its_position(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, "not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="key 2 is not a Fernet key"):
        field_encryption.check_keys()
    assert check_field_encryption_keys(None)[0].id == "core.E010"


def test_the_field_encrypts_on_the_way_in_and_refuses_comparisons(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    field = api_key_field()
    stored = field.get_prep_value("secret-value")
    assert stored != "secret-value"
    assert field.from_db_value(stored, None, None) == "secret-value"
    assert field.get_prep_value(None) is None and field.from_db_value(None, None, None) is None
    assert field.value_to_string(Holder(api_key="secret-value")) == ""
    assert field.get_lookup("isnull") is not None
    assert field.get_lookup("exact") is None and field.get_lookup("icontains") is None


def test_the_admin_input_never_shows_the_value_and_empty_keeps_it():
    field = api_key_field(blank=True, default="")
    form_field = field.formfield()
    assert isinstance(form_field, SecretFormField)
    assert form_field.prepare_value("secret-value") == ""
    assert "secret-value" not in form_field.widget.render("api_key", "secret-value")
    holder = Holder(api_key="stored")
    field.save_form_data(holder, form_field.clean(""))
    assert form_field.clean("") is KEEP_STORED and holder.api_key == "stored"
    field.save_form_data(holder, form_field.clean("replaced"))
    assert holder.api_key == "replaced"


def test_serializers_take_a_secret_and_answer_only_whether_it_is_set():
    class HolderSerializer(serializers.Serializer):
        api_key = SecretField(required=False)
        api_key_set = SecretIsSetField(source="api_key")

    incoming = HolderSerializer(data={"api_key": " spaced "})
    assert incoming.is_valid(), incoming.errors
    assert incoming.validated_data["api_key"] == " spaced "
    assert HolderSerializer(Holder(api_key="stored")).data == {"api_key_set": True}
    assert HolderSerializer(Holder(api_key="")).data == {"api_key_set": False}
