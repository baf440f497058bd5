"""Thin Celery tasks of the core: run a job, start a scheduled one, housekeeping."""

from celery import shared_task

from core.services import housekeeping as housekeeping_service
from core.services.job_lifecycle import RUN_JOB_TASK
from core.services.job_schedules import SCHEDULED_JOB_TASK, start_scheduled_job
from core.services.jobs import execute_job


@shared_task(name=RUN_JOB_TASK, ignore_result=True, bind=True)
def run_job(self, job_id: str) -> None:
    """Run one Job (any kind); the handler is looked up from the job's kind."""
    execute_job(job_id, worker=self.request.hostname or "")


@shared_task(name=SCHEDULED_JOB_TASK, ignore_result=True)
def run_schedule_tick(schedule_id: int) -> None:
    """One beat tick of a JobSchedule: start its job unless the last one still runs."""
    start_scheduled_job(schedule_id)


@shared_task(name="core.tasks.housekeeping", ignore_result=True)
def housekeeping() -> dict:
    """Delete old jobs and their logs; fail jobs whose worker died."""
    return housekeeping_service.run_housekeeping()
