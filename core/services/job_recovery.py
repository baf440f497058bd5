"""Jobs that outlive their worker: found within seconds, re-run where safe, failed otherwise.

A worker process dies (deploy, OOM killer, a machine gone) or shuts down mid-job. Three
things notice, fastest first:

1. the Celery parent process of a prefork pool, whose child died: its `task_failure` signal
   with `WorkerLostError` (core.worker_signals) calls `handle_interrupted_job` at once;
2. every worker's `JobMonitor` thread, every JOB_HEARTBEAT_SECONDS, looks for running jobs
   whose heartbeat is older than JOB_LOST_AFTER_SECONDS (the whole worker died, parent too);
3. housekeeping (beat) does the same, as a last resort.

A worker that shuts down asks its jobs to stop at their next safe point
(`request_stop_for_worker`); a job that does is handed here with `stopped_cleanly`.

Then the kind decides (`JobKind.rerun_on_worker_lost`): a kind safe to run again goes back to
`pending` with a new Celery task, up to its attempts budget, and resumes from its last
checkpoint; any other kind, or a job lost while an outside effect was in flight
(`ctx.unsafe_to_rerun`), ends `failed` with what happened and the next step. Every
interruption is recorded on the job (`interruptions`), logged in its log and on the live
stream.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, models, transaction
from django.utils import timezone

from core.exceptions import UnknownJobKind
from core.models import Job, JobStatus

from . import live
from .job_kinds import get_job_kind
from .job_lifecycle import announce_job_finished, enqueue_after_commit, resend_pending_job
from .job_stream import append_lines
from .sandbox import sweep_job_processes

logger = logging.getLogger(__name__)

REQUEUED, FAILED, CANCELLED = "re-queued", "failed", "cancelled"


def handle_interrupted_job(
    job_id,
    *,
    reason: str,
    attempt: int | None = None,
    task_id: str | None = None,
    stopped_cleanly: bool = False,
) -> str | None:
    """Re-queue or fail a running job whose attempt ended without finishing.

    `attempt` and `task_id` (when known) must still be the job's current ones: a job already
    re-queued (it has a new task) or finished by someone else is left alone. Returns the
    outcome (REQUEUED, FAILED, CANCELLED) or None when there was nothing to do.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id, status=JobStatus.RUNNING).first()
        if job is None or (attempt is not None and job.attempts != attempt):
            return None
        if task_id is not None and job.celery_task_id != task_id:
            return None
        outcome, lines = _decide(job, reason, stopped_cleanly)
        job.interruptions = [
            *job.interruptions,
            {
                "attempt": job.attempts,
                "at": timezone.now().isoformat(),
                "phase": job.phase,
                "worker": job.worker,
                "reason": reason,
                "stopped_cleanly": stopped_cleanly,
                "outcome": outcome,
            },
        ]
        job.stop_requested = False
        if outcome == REQUEUED:
            _requeue(job)
        else:
            job.status = JobStatus.FAILED if outcome == FAILED else JobStatus.CANCELLED
            job.finished_at = timezone.now()
            job.error = lines[0]
            job.save()
        transaction.on_commit(lambda: _tell(job, outcome, lines))
    # What the dead attempt started in the sandbox (on this machine) goes with it.
    swept = sweep_job_processes(job.pk)
    if swept:
        logger.info("job %s: killed %s process(es) left by the lost attempt", job.pk, swept)
    log = logger.warning if outcome == FAILED else logger.info
    log("job %s (%s): %s", job.pk, job.kind, lines[0])
    return outcome


def _decide(job: Job, reason: str, stopped_cleanly: bool) -> tuple[str, list[str]]:
    """The outcome and the lines that explain it (the first one becomes the job's error)."""
    try:
        kind = get_job_kind(job.kind)
    except UnknownJobKind:
        kind = None
    max_attempts = kind.effective_max_attempts(settings.JOB_MAX_ATTEMPTS) if kind else job.attempts
    what = (
        "stopped at a safe point because its worker was shutting down"
        if stopped_cleanly
        else f"worker lost during {job.phase or 'start-up'}"
    )
    rerun = kind is not None and kind.rerun_on_worker_lost
    budget = f" of {max_attempts}" if rerun else ""
    head = f"Attempt {job.attempts}{budget}: {what} ({reason})."
    if job.cancel_requested:
        return CANCELLED, [f"Cancelled: {what} while a cancel was pending."]
    if job.unsafe_section:
        return FAILED, [
            f"{head[:-1]}, while {job.unsafe_section}: that may or may not have happened.",
            "Not re-run automatically: check the outside system, then retry the job if it "
            "is still needed.",
        ]
    if not rerun:
        return FAILED, [
            f"{head[:-1]}; this kind of job is not re-run automatically.",
            "Check what it did (its log above), then retry it if needed.",
        ]
    if job.attempts >= max_attempts:
        return FAILED, [
            f"{head[:-1]}; giving up after {job.attempts} attempts "
            "(JOB_MAX_ATTEMPTS, or the kind's own budget).",
            "Retry it once the cause (memory, a deploy loop) is fixed.",
        ]
    resume = "its last checkpoint" if job.checkpoint else "the start"
    return REQUEUED, [f"{head} Re-queued: the next attempt resumes from {resume}."]


def _requeue(job: Job) -> None:
    job.status = JobStatus.PENDING
    job.celery_task_id = str(uuid.uuid4())
    job.heartbeat_at = None
    job.worker = ""
    job.phase = "re-queued"
    job.save()
    enqueue_after_commit(job)


def _tell(job: Job, outcome: str, lines: list[str]) -> None:
    """After commit: the lines in the job's log, and the live stream told."""
    append_lines(job.pk, lines)
    if outcome == REQUEUED:
        live.publish_job_event(
            job.pk,
            {
                "type": live.PROGRESS,
                "job_id": str(job.pk),
                "progress": job.progress,
                "phase": job.phase,
                "counters": {"attempts": job.attempts},
            },
        )
    else:
        announce_job_finished(job)


def resend_stale_pending_jobs(now=None) -> int:
    """Send again the pending jobs no worker has taken JOB_PENDING_RESEND_SECONDS after their
    last send: a broker that lost its data (Redis restarted without persistence) lost their
    messages, and nothing else would ever run them. Each is logged in the job's log."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_PENDING_RESEND_SECONDS)
    stale = Job.objects.filter(status=JobStatus.PENDING, created_at__lt=cutoff).filter(
        models.Q(enqueued_at__lt=cutoff) | models.Q(enqueued_at__isnull=True)
    )
    resent = 0
    for job in stale.only("pk", "queue", "celery_task_id", "enqueued_at", "created_at"):
        waited = (now - (job.enqueued_at or job.created_at)).total_seconds()
        # Logged first: once sent, the job's own lines may start at any moment.
        append_lines(
            job.pk,
            [
                f"No worker took this job {waited:.0f} s after it was queued: sent to the "
                f"'{job.queue}' queue again (the broker may have lost the message)."
            ],
        )
        resend_pending_job(job)
        logger.warning("job %s: pending for %.0f s, sent to its queue again", job.pk, waited)
        resent += 1
    return resent


def find_lost_jobs(now=None) -> int:
    """Hand every running job whose heartbeat stopped to `handle_interrupted_job`."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    silent = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
        "pk", "attempts", "heartbeat_at", "worker"
    )
    handled = 0
    for job_id, attempt, beat, worker in list(silent):
        seconds = (now - beat).total_seconds()
        reason = f"no heartbeat from {worker or 'its worker'} for {seconds:.0f} s"
        if handle_interrupted_job(job_id, attempt=attempt, reason=reason):
            handled += 1
    return handled


def request_stop_for_worker(hostname: str) -> int:
    """A worker is shutting down: its running jobs stop at their next safe point."""
    return Job.objects.filter(status=JobStatus.RUNNING, worker__startswith=f"{hostname} ").update(
        stop_requested=True
    )


class JobMonitor:
    """A thread in each worker's main process that finds lost jobs within seconds."""

    def __init__(self, interval: float | None = None):
        self.interval = interval or settings.JOB_HEARTBEAT_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                close_old_connections()
                find_lost_jobs()
            except Exception:
                logger.exception("job monitor: could not check for lost jobs")
