"""Aggregate statistics over a set of jobs (a few GROUP BY queries)."""

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F

from core.models import JobStatus


def summarize_jobs(jobs) -> dict:
    """Counts by status and kind, mean duration of finished runs, failure rate."""
    by_status = dict(jobs.order_by().values_list("status").annotate(n=Count("id")))
    by_kind = dict(jobs.order_by().values_list("kind").annotate(n=Count("id")))
    finished = jobs.filter(
        status__in=[JobStatus.COMPLETED, JobStatus.FAILED],
        started_at__isnull=False,
        finished_at__isnull=False,
    )
    mean = finished.aggregate(
        mean=Avg(
            ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        )
    )["mean"]
    completed = by_status.get(JobStatus.COMPLETED, 0)
    failed = by_status.get(JobStatus.FAILED, 0)
    return {
        "total": sum(by_status.values()),
        "by_status": {status: by_status.get(status, 0) for status in JobStatus.values},
        "by_kind": by_kind,
        "mean_duration_seconds": mean.total_seconds() if mean is not None else None,
        "failure_rate": (failed / (completed + failed)) if completed + failed else None,
    }
