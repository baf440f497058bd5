"""What core shows on the operator console's home page: running and recently failed jobs."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from core.models import JobStatus
from core.services import console
from core.services.job_access import visible_jobs

JOBS = "admin:core_job_changelist"


def job_figures(user) -> list[console.Figure]:
    """Running jobs and jobs that failed in the last RECENT_DAYS days, of those `user` sees
    (one aggregate query); each links to the job list with the same filter."""
    since = (timezone.now() - timedelta(days=console.RECENT_DAYS)).replace(microsecond=0)
    counts = (
        visible_jobs(user)
        .order_by()
        .aggregate(
            running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED, finished_at__gte=since)),
        )
    )
    return [
        console.Figure(
            "running_jobs",
            "Running jobs",
            counts["running"],
            JOBS,
            {"status__exact": JobStatus.RUNNING},
        ),
        console.Figure(
            "failed_jobs",
            f"Failed jobs, last {console.RECENT_DAYS} days",
            counts["failed"],
            JOBS,
            {"status__exact": JobStatus.FAILED, "finished_at__gte": since.isoformat()},
            alert=True,
        ),
    ]


def register_console() -> None:
    console.register_figures("core.jobs", job_figures, permission="core.view_job", order=20)
    console.register_action(
        "core.running_jobs",
        "Jobs running now",
        JOBS,
        query={"status__exact": JobStatus.RUNNING},
        permission="core.view_job",
        order=90,
    )
