"""Job kinds of the script runner (auto-discovered by core at start-up)."""

from core.services.jobs import JobContext, job_kind

from .services.runs import JOB_KIND, run_script_job


@job_kind(JOB_KIND, queue="scripts", label="Script run")
def script_run_job(ctx: JobContext) -> dict:
    """Run one registered script (or workflow) in the sandbox; see services/runs.py."""
    return run_script_job(ctx)
