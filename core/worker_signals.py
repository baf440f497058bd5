"""What Celery workers do for the Job engine beside running tasks (connected in CoreConfig).

- The parent of a prefork pool sees a child die (`WorkerLostError`): the job it ran is handed
  to job_recovery at once, instead of waiting for its heartbeat to go stale.
- Each worker's main process runs a JobMonitor: lost jobs of any worker found within seconds.
- A warm shutdown (SIGTERM to the main process: a deploy) asks this worker's jobs to stop at
  their next safe point; SIGTERM to a pool child (Heroku signals every process of a dyno)
  does the same for the job running in it, instead of killing it mid-write.
"""

from __future__ import annotations

import logging
import os
import signal

from billiard.exceptions import WorkerLostError
from celery import signals

logger = logging.getLogger(__name__)

_monitor = None
_running_jobs = 0
_in_pool_child = False


@signals.task_failure.connect(dispatch_uid="core.job_worker_lost")
def on_task_failure(sender=None, task_id=None, exception=None, args=None, **kwargs):
    from core.services.job_lifecycle import RUN_JOB_TASK
    from core.services.job_recovery import handle_interrupted_job

    if getattr(sender, "name", None) != RUN_JOB_TASK or not isinstance(exception, WorkerLostError):
        return
    job_id = (args or [None])[0]
    if job_id:
        # Only if the job still belongs to that task: a re-queued job has a new one.
        handle_interrupted_job(
            job_id, task_id=task_id, reason=f"the worker process died: {exception}"
        )


@signals.worker_ready.connect(dispatch_uid="core.job_monitor")
def start_job_monitor(sender=None, **kwargs):
    from core.services.job_recovery import JobMonitor

    global _monitor
    _monitor = JobMonitor()
    _monitor.start()


@signals.worker_shutting_down.connect(dispatch_uid="core.job_stop_on_shutdown")
def stop_jobs_of_this_worker(sig=None, how=None, exitcode=None, sender=None, **kwargs):
    from core.services.job_recovery import request_stop_for_worker
    from core.services.job_watchdog import shutdown_requested

    shutdown_requested.set()  # jobs in this very process (solo and threads pools)
    if how == "Warm" and sender:
        stopping = request_stop_for_worker(str(sender))
        logger.info("warm shutdown: asked %s running job(s) to stop at a safe point", stopping)


@signals.worker_process_init.connect(dispatch_uid="core.job_child_sigterm")
def mark_pool_child(**kwargs):
    global _in_pool_child
    _in_pool_child = True


@signals.task_prerun.connect(dispatch_uid="core.job_count_start")
def _count_start(**kwargs):
    global _running_jobs
    _running_jobs += 1
    if _in_pool_child:
        # Installed here, not at process start: billiard sets its own SIGTERM handler (exit at
        # once) after the process initializer has run.
        signal.signal(signal.SIGTERM, _on_child_sigterm)


@signals.task_postrun.connect(dispatch_uid="core.job_count_end")
def _count_end(**kwargs):
    # The process stays: the main process, shutting down too, ends its pool in order.
    global _running_jobs
    _running_jobs -= 1


def _on_child_sigterm(signum, frame):
    from core.services.job_watchdog import shutdown_requested

    if _running_jobs == 0:  # idle: leave at once, as without this handler
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    shutdown_requested.set()
