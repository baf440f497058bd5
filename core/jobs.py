"""Job kinds of the core itself (every app declares its kinds in its own `jobs.py`)."""

from core.services.job_kinds import declare_job_kind

ECHO = declare_job_kind(
    "diagnostics.echo",
    handler="core.services.diagnostics.echo_lines",
    label="Pipeline smoke test",
    rerun_on_worker_lost=True,  # no outside effect; resumes after its last checkpoint
)
