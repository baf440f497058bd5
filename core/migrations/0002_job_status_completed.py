"""Job status vocabulary of the seed documents: `completed`, not `succeeded`."""

from django.db import migrations, models


def rename_forward(apps, schema_editor):
    apps.get_model("core", "Job").objects.filter(status="succeeded").update(status="completed")


def rename_backward(apps, schema_editor):
    apps.get_model("core", "Job").objects.filter(status="completed").update(status="succeeded")


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("running", "Running"),
                    ("completed", "Completed"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                db_index=True,
                default="pending",
                max_length=16,
            ),
        ),
        migrations.RunPython(rename_forward, rename_backward),
    ]
