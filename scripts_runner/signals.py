"""A run's folder lives as long as its job: deleting the job (retention housekeeping, admin)
deletes the folder, with the files the run downloaded or wrote there."""

from django.db import transaction

from .jobs import SCRIPT_RUN
from .services.runs import remove_job_dir


def remove_run_folder(sender, instance, **kwargs):
    if instance.kind == SCRIPT_RUN.name:
        job_id = instance.pk
        # After commit: a rolled-back delete must not lose the files.
        transaction.on_commit(lambda: remove_job_dir(job_id))
