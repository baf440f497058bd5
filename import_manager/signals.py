"""Signals of the import app for other apps (webhooks, ...).

`import_completed` is sent once per import whose file was processed to the end (job status
`completed`, dry runs included: `summary["dry_run"]` tells them apart), after the job's final
state is committed, never per row. An import that is one step of a larger job (the
`full_import` workflow) is announced when the import has finished: its `summary` is the
import's (status `completed`), while that job is still running. Receivers get `job` (the
core Job) and `summary`, a JSON-ready dict: job_id, filename, status, dry_run, total_rows,
processed_rows, success_count, error_count, created, updated, unchanged, started_at,
completed_at.
"""

from django.dispatch import Signal

import_completed = Signal()  # kwargs: job, summary
