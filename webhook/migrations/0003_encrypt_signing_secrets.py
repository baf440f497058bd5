"""Signing secrets encrypted at rest (core.fields.EncryptedTextField).

The column becomes text (a Fernet token is ~4/3 of the secret plus 57 bytes); existing
secrets are encrypted in place with raw SQL, because the migration's own model of the field
would try to decrypt the plaintext rows. The "not empty" check goes: a ciphertext is never
empty, and a constraint cannot compare ciphertexts.
"""

from django.db import migrations

import core.fields
import webhook.services.signing


def _rewrite(schema_editor, convert) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, secret FROM webhook_webhook")
        for pk, value in cursor.fetchall():
            cursor.execute(
                "UPDATE webhook_webhook SET secret = %s WHERE id = %s", [convert(value), pk]
            )


def encrypt_secrets(apps, schema_editor):
    from core.services.field_encryption import encrypt

    _rewrite(schema_editor, encrypt)


def decrypt_secrets(apps, schema_editor):
    from core.services.field_encryption import decrypt

    _rewrite(schema_editor, decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("webhook", "0002_inbound_events"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="webhook", name="webhook_secret_not_empty"),
        migrations.AlterField(
            model_name="webhook",
            name="secret",
            field=core.fields.EncryptedTextField(
                default=webhook.services.signing.generate_secret, editable=False
            ),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]
