"""Jobs on a schedule: one django-celery-beat periodic task per (job kind, subject).

    schedule_job(SUPPLIER_SYNC, params={"full": False}, subject=supplier,
                 interval=timedelta(hours=1))
    schedule_job(SUPPLIER_SYNC, subject=supplier, crontab="0 3 * * *")   # replaces the above
    unschedule_job(SUPPLIER_SYNC, subject=supplier)

Each schedule is a `JobSchedule` row owning a `PeriodicTask`; operators edit its timing or
pause it in the admin. Every tick runs `start_scheduled_job`, which starts the job unless one
of the same kind and subject is still pending or running: then the tick is skipped and
logged, so a slow sync never piles up behind itself.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from celery.schedules import crontab as celery_crontab
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from core.exceptions import InvalidSchedule
from core.models import Job, JobSchedule, JobStatus
from core.models.job import subject_label

from .job_kinds import JobKind, get_job_kind
from .jobs import start_job, subject_key

logger = logging.getLogger(__name__)

#: The Celery task beat sends on every tick (core/tasks.py), by name.
SCHEDULED_JOB_TASK = "core.tasks.start_scheduled_job"
#: pg_advisory_xact_lock class for "one tick of this schedule at a time".
_TICK_LOCK_CLASS = 7_301


def schedule_job(
    kind: str | JobKind,
    *,
    params: dict | None = None,
    subject=None,
    interval: timedelta | None = None,
    crontab: str | None = None,
    owner=None,
    title: str = "",
    enabled: bool = True,
) -> JobSchedule:
    """Create or replace the schedule of `kind` for `subject` (exactly one of `interval` and
    `crontab`, a five-field "minute hour day-of-month month day-of-week" expression in UTC).

    Calling it again for the same kind and subject updates that schedule, never adds one.
    """
    job_kind = get_job_kind(kind)
    subject_type, subject_id = subject_key(subject) if subject is not None else (None, "")
    timing = _timing(interval, crontab)
    with transaction.atomic():
        schedule = (
            JobSchedule.objects.select_for_update()
            .filter(kind=job_kind.name, subject_type=subject_type, subject_id=subject_id)
            .select_related("periodic_task")
            .first()
        )
        task = schedule.periodic_task if schedule else PeriodicTask(task=SCHEDULED_JOB_TASK)
        task.name = _task_name(job_kind, subject_type, subject_id)
        task.interval, task.crontab = timing.get("interval"), timing.get("crontab")
        task.enabled = enabled
        task.queue = "default"
        task.description = f"Starts a '{job_kind.label}' job ({job_kind.name}) on every tick."
        task.save()
        schedule = schedule or JobSchedule(
            kind=job_kind.name, subject_type=subject_type, subject_id=subject_id
        )
        schedule.periodic_task = task
        schedule.params = params or {}
        schedule.title = title or job_kind.label
        schedule.owner = owner if owner is not None and owner.is_authenticated else None
        schedule.save()
        # The tick finds its schedule by id; set after the first save gave the row one.
        task.kwargs = json.dumps({"schedule_id": schedule.pk})
        task.save(update_fields=["kwargs"])
    return schedule


def unschedule_job(kind: str | JobKind, *, subject=None) -> bool:
    """Remove the schedule of `kind` for `subject`; False when there was none."""
    job_kind = get_job_kind(kind)
    subject_type, subject_id = subject_key(subject) if subject is not None else (None, "")
    schedules = JobSchedule.objects.filter(
        kind=job_kind.name, subject_type=subject_type, subject_id=subject_id
    )
    task_ids = list(schedules.values_list("periodic_task_id", flat=True))
    # Deleting the periodic task deletes its schedule row too (and tells beat).
    for task in PeriodicTask.objects.filter(pk__in=task_ids):
        task.delete()
    return bool(task_ids)


def start_scheduled_job(schedule_id: int) -> Job | None:
    """One tick: start the schedule's job unless the previous one is still pending or
    running (then skip and log). Returns the started job, or None."""
    with transaction.atomic():
        # Ticks of one schedule never interleave, even with two beat processes by mistake.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_TICK_LOCK_CLASS, schedule_id])
        schedule = JobSchedule.objects.select_related("owner").filter(pk=schedule_id).first()
        if schedule is None:
            logger.warning("schedule %s no longer exists; tick ignored", schedule_id)
            return None
        now = timezone.now()
        busy = (
            Job.objects.filter(
                kind=schedule.kind,
                subject_type=schedule.subject_type_id,
                subject_id=schedule.subject_id,
                status__in=[JobStatus.PENDING, JobStatus.RUNNING],
            )
            .values_list("pk", flat=True)
            .first()
        )
        if busy is not None:
            JobSchedule.objects.filter(pk=schedule.pk).update(
                last_tick_at=now, skipped_ticks=schedule.skipped_ticks + 1
            )
            logger.info(
                "schedule %s (%s): tick skipped, job %s is still running",
                schedule.pk,
                schedule,
                busy,
            )
            return None
        subject = (schedule.subject_type, schedule.subject_id) if schedule.subject_type_id else None
        job = start_job(
            schedule.kind,
            params=schedule.params,
            owner=schedule.owner,
            title=schedule.title,
            subject=subject,
        )
        JobSchedule.objects.filter(pk=schedule.pk).update(last_tick_at=now, last_job=job)
    logger.info("schedule %s: started job %s", schedule, job.pk)
    return job


def _timing(interval: timedelta | None, crontab: str | None) -> dict:
    if (interval is None) == (crontab is None):
        raise InvalidSchedule("Give exactly one of interval and crontab.")
    if interval is not None:
        seconds = int(interval.total_seconds())
        if seconds < 1:
            raise InvalidSchedule("The interval must be at least one second.")
        every, _ = IntervalSchedule.objects.get_or_create(
            every=seconds, period=IntervalSchedule.SECONDS
        )
        return {"interval": every}
    fields = crontab.split()
    if len(fields) != 5:
        raise InvalidSchedule(
            "A crontab has five fields: minute hour day-of-month month day-of-week."
        )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:  # Celery's own parser: what beat will accept
        celery_crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    except ValueError as exc:
        raise InvalidSchedule(f"Invalid crontab '{crontab}': {exc}") from None
    cron, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    return {"crontab": cron}


def _task_name(kind: JobKind, subject_type, subject_id: str) -> str:
    name = f"{kind.label} ({kind.name})"
    if subject_type is not None:
        name += f" for {subject_label(subject_type, subject_id)}"
    return name[:200]
