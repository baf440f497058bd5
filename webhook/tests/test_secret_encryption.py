"""Signing secrets are encrypted at rest, survive key rotation, and the migration encrypted
the secrets stored before it."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from webhook.models import Webhook
from webhook.services import signing

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()

pytestmark = pytest.mark.django_db


def stored_column(pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhook_webhook WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_the_column_holds_a_token_and_the_model_the_secret(settings, make_webhook):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    webhook = make_webhook("https://example.com/hook")
    secret = Webhook.objects.get(pk=webhook.pk).secret
    assert secret.startswith(signing.SECRET_PREFIX) and secret == webhook.secret
    column = stored_column(webhook.pk)
    assert secret not in column
    assert Fernet(NEW_KEY).decrypt(column.encode()).decode() == secret


def test_rotation_re_encrypts_every_secret_with_the_newest_key(settings, make_webhook):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    secrets = {w.pk: w.secret for w in (make_webhook(f"https://e.com/{n}") for n in range(3))}
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = io.StringIO()
    call_command("rotate_field_encryption", stdout=out)
    assert "webhook.Webhook: 3 rows" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key removed
    assert {w.pk: w.secret for w in Webhook.objects.all()} == secrets


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_the_secrets_stored_in_clear_and_reverses(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    before, after = ("webhook", "0002_inbound_events"), ("webhook", "0003_encrypt_signing_secrets")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO webhook_webhook (name, url, event_types, is_enabled, secret,"
                " headers, timeout, created_at, updated_at) VALUES ('', 'https://e.com/x',"
                " ARRAY['product.created'], true, 'whsec_plain', '{}', 10, now(), now())"
                " RETURNING id"
            )
            pk = cursor.fetchone()[0]
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        assert Fernet(NEW_KEY).decrypt(stored_column(pk).encode()) == b"whsec_plain"
        assert Webhook.objects.get(pk=pk).secret == "whsec_plain"
        executor = MigrationExecutor(connection)
        executor.migrate([before])
        assert stored_column(pk) == "whsec_plain"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
