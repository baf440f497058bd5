"""Code batches: starting a bulk job on its batch, finding the batch from the job, and how
batch jobs are shown (`/api/jobs/{id}` and `/api/batch-jobs/{id}`).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse

from core.models import Job
from core.services.job_access import split_job_error
from core.services.job_kinds import JobKind, get_job_kind
from core.services.jobs import start_job

from ..models import CodeBatch
from .staging import drop_batch_tables

logger = logging.getLogger(__name__)


def start_batch_job(
    kind: JobKind,
    operation: str,
    *,
    params: dict,
    owner=None,
    title: str,
    source: str = "",
    source_path: str = "",
) -> tuple[CodeBatch, Job]:
    """Create the batch and its job (the batch is the job's subject), enqueued after commit."""
    with transaction.atomic():
        batch = CodeBatch.objects.create(
            operation=operation,
            created_by=owner if owner is not None and owner.is_authenticated else None,
            source=source[:255],
            source_path=source_path[:1000],
            dry_run=bool(params.get("dry_run")),
        )
        job = start_job(kind, params=params, owner=owner, title=title, subject=batch)
    return batch, job


def batch_of(job: Job) -> CodeBatch:
    """The batch a code job works on (its subject)."""
    return CodeBatch.objects.get(pk=int(job.subject_id))


def batch_for(job: Job) -> CodeBatch | None:
    if not job.subject_id or job.subject_type_id is None:
        return None
    if (job.subject_type.app_label, job.subject_type.model) != ("codes", "codebatch"):
        return None
    return CodeBatch.objects.filter(pk=int(job.subject_id)).first()


def save_batch(batch: CodeBatch, **fields) -> None:
    for name, value in fields.items():
        setattr(batch, name, value)
    batch.save(update_fields=[*fields, "updated_at"])


def seed_job_type(kind_name: str) -> str:
    """The seed's name for a kind (`fienta.create_codes`), or the kind's own name."""
    try:
        kind = get_job_kind(kind_name)
    except Exception:  # noqa: BLE001 - a kind no longer declared keeps its stored name
        return kind_name
    return kind.aliases[0] if kind.aliases else kind.name


def result_url(job: Job) -> str:
    return reverse("batch-job-results", kwargs={"pk": job.pk})


def batch_facts(batch: CodeBatch | None, job: Job) -> dict | None:
    """What a batch job produced: counts, summary, the result file's address."""
    if batch is None:
        return None
    return {
        "id": batch.pk,
        "operation": batch.operation,
        "source": batch.source,
        "source_path": batch.source_path,
        "dry_run": batch.dry_run,
        "total_rows": batch.total_rows,
        "counts": batch.counts,
        "summary": batch.summary,
        "applied_at": batch.applied_at.isoformat() if batch.applied_at else None,
        "result_file": result_url(job) if batch.result_path else None,
    }


def batch_job_detail(job: Job) -> dict:
    """`JobKind.detail` of the code kinds: the batch, at the top level of the job's detail."""
    return {"batch": batch_facts(batch_for(job), job)}


def seed_job_data(job: Job, batch: CodeBatch | None) -> dict:
    """Seed 003's `batch_jobs` row for a job: what `job.data` holds in its frontend
    (`job.data.status`: pending | running | completed | failed, and cancelled)."""
    return {
        "id": str(job.pk),
        "job_type": seed_job_type(job.kind),
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "phase": job.phase,
        "params": job.params,
        "results": batch_facts(batch, job) or job.result,
        "error_message": split_job_error(job.error)[0] or None,
        "created_by": job.owner.email if job.owner_id else None,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "completed_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def cleanup_finished_batch(job: Job) -> None:
    """`job_finished` receiver: a finished code job leaves no staging table behind."""
    batch = batch_for(job) if job.kind.startswith("codes.") else None
    if batch is not None:
        try:
            drop_batch_tables(batch.pk)
        except Exception:
            logger.exception("dropping the staging tables of batch %s failed", batch.pk)
