"""Job kinds are named `app.action`: `catalog_import` jobs become `catalog.import`."""

from django.db import migrations


def rename_forward(apps, schema_editor):
    apps.get_model("core", "Job").objects.filter(kind="catalog_import").update(kind="catalog.import")


def rename_backward(apps, schema_editor):
    apps.get_model("core", "Job").objects.filter(kind="catalog.import").update(kind="catalog_import")


class Migration(migrations.Migration):
    dependencies = [("import_manager", "0001_initial"), ("core", "0002_job_status_completed")]

    operations = [migrations.RunPython(rename_forward, rename_backward)]
