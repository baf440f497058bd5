"""Signal receivers of the import app (connected in ImportManagerConfig.ready)."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from core.models import JobStatus
from core.services.jobs import job_finished

from .jobs import CATALOG_IMPORT
from .models import ImportRun
from .services.reports import import_summary
from .services.runs import remove_stored_file, send_import_completed


@receiver(job_finished, dispatch_uid="import_manager.import_completed")
def announce_import_completed(sender, job, **kwargs):
    """job_finished fires once the job's final state is stored; `import_completed` goes out
    after the surrounding transaction (if any) commits, once per import."""
    if job.kind != CATALOG_IMPORT.name or job.status != JobStatus.COMPLETED:
        return
    send_import_completed(job, import_summary(job))


@receiver(post_delete, sender=ImportRun, dispatch_uid="import_manager.remove_file")
def remove_import_file(sender, instance, **kwargs):
    """A deleted job (e.g. by housekeeping) takes its stored import file with it."""
    transaction.on_commit(lambda: remove_stored_file(instance))
