"""Job kinds of the script runner (auto-discovered by core at start-up)."""

from core.services.job_kinds import declare_job_kind

SCRIPT_RUN = declare_job_kind(
    "scripts.run",
    handler="scripts_runner.services.runs.run_script_job",
    queue="scripts",
    label="Script run",
    # Re-run after a lost worker unless the script (or workflow step) that was running is not
    # rerun-safe: the runner marks those as unsafe sections (services/runs.py).
    rerun_on_worker_lost=True,
)
