"""Re-encrypt every stored secret with the newest key of FIELD_ENCRYPTION_KEYS."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from core.fields import EncryptedTextField

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every EncryptedTextField value with the first key of "
        "FIELD_ENCRYPTION_KEYS (run after putting a new key first; then drop the old key)."
    )

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            if not model._meta.managed or model._meta.proxy:
                continue
            fields = model._meta.concrete_fields
            names = [f.name for f in fields if isinstance(f, EncryptedTextField)]
            if names:
                count = self._rotate(model, names)
                total += count
                self.stdout.write(f"{model._meta.label}: {count} rows ({', '.join(names)})")
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {total} rows"))

    def _rotate(self, model, names: list[str]) -> int:
        count = 0
        pks = list(model._base_manager.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(pks), BATCH):
            with transaction.atomic():
                # Reading decrypts with any configured key; saving encrypts with the newest.
                rows = model._base_manager.filter(pk__in=pks[start : start + BATCH])
                for row in rows.select_for_update().only("pk", *names):
                    row.save(update_fields=names)
                    count += 1
        return count
