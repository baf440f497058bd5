"""Job kinds are named `app.action`: `script_run` jobs become `scripts.run`."""

from django.db import migrations


def rename_forward(apps, schema_editor):
    apps.get_model("core", "Job").objects.filter(kind="script_run").update(kind="scripts.run")


def rename_backward(apps, schema_editor):
    apps.get_model("core", "Job").objects.filter(kind="scripts.run").update(kind="script_run")


class Migration(migrations.Migration):
    dependencies = [("scripts_runner", "0001_initial"), ("core", "0002_job_status_completed")]

    operations = [migrations.RunPython(rename_forward, rename_backward)]
