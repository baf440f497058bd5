"""Helpers of the script runner tests."""

from core.models import Job, JobLogLine
from core.services.jobs import execute_job
from scripts_runner.services.runs import create_script_job


def run_script(name: str, params: dict | None = None, *, owner=None, source="json") -> Job:
    """Validate, create and run a script job in this process; returns the finished job."""
    job = create_script_job(name, params or {}, owner=owner, source=source)
    execute_job(job.pk)
    job.refresh_from_db()
    return job


def log_lines(job: Job) -> list[str]:
    return list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("line", flat=True))


def script_lines(job: Job) -> list[str]:
    """The script's own output: without the runner's `[name] starting/finished` lines and
    core's failure traceback."""
    lines = log_lines(job)
    if "Job failed:" in lines:
        lines = lines[: lines.index("Job failed:")]
    return [line for line in lines if not line.startswith("[")]
