"""schedule_job: one django-celery-beat periodic task per (kind, subject), ticks that never
overlap a job still running, operators' edits in the admin."""

import json
import logging
from datetime import timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from core.models import Job, JobSchedule, JobStatus
from core.services.job_schedules import (
    SCHEDULED_JOB_TASK,
    InvalidSchedule,
    schedule_job,
    start_scheduled_job,
    unschedule_job,
)

pytestmark = pytest.mark.django_db


def test_one_periodic_task_per_kind_and_subject(make_user):
    alice, bob = make_user("operator"), make_user("operator")
    first = schedule_job("diagnostics.echo", subject=alice, interval=timedelta(minutes=5))
    again = schedule_job(
        "diagnostics.echo", params={"lines": 3}, subject=alice, crontab="0 3 * * *"
    )
    schedule_job("diagnostics.echo", subject=bob, interval=timedelta(hours=1))
    schedule_job("diagnostics.echo", interval=timedelta(hours=1))
    schedule_job("diagnostics.echo", interval=timedelta(hours=2))  # the subject-less one again

    assert again.pk == first.pk
    assert JobSchedule.objects.count() == 3
    assert PeriodicTask.objects.filter(task=SCHEDULED_JOB_TASK).count() == 3
    task = PeriodicTask.objects.get(job_schedule=first)
    assert (task.interval, str(task.crontab.minute), task.crontab.hour) == (None, "0", "3")
    assert json.loads(task.kwargs) == {"schedule_id": first.pk}
    assert JobSchedule.objects.get(pk=first.pk).params == {"lines": 3}
    assert PeriodicTask.objects.get(job_schedule__subject_id="").interval.every == 7200


def test_a_tick_starts_the_job_with_its_subject_and_params(make_user, enqueued_jobs):
    owner = make_user("operator")
    schedule = schedule_job(
        "diagnostics.echo",
        params={"lines": 2},
        subject=owner,
        owner=owner,
        interval=timedelta(seconds=30),
    )
    job = start_scheduled_job(schedule.pk)
    assert (job.kind, job.params, job.subject, job.owner) == (
        "diagnostics.echo",
        {"lines": 2},
        owner,
        owner,
    )
    assert JobSchedule.objects.get(pk=schedule.pk).last_job == job


def test_a_tick_is_skipped_and_logged_while_the_last_job_still_runs(make_user, caplog):
    subject = make_user("viewer")
    schedule = schedule_job("diagnostics.echo", subject=subject, interval=timedelta(seconds=5))
    first = start_scheduled_job(schedule.pk)
    with caplog.at_level(logging.INFO, logger="core.services.job_schedules"):
        assert start_scheduled_job(schedule.pk) is None  # still pending
        Job.objects.filter(pk=first.pk).update(status=JobStatus.RUNNING)
        assert start_scheduled_job(schedule.pk) is None  # running
    assert "tick skipped" in caplog.text and str(first.pk) in caplog.text
    assert JobSchedule.objects.get(pk=schedule.pk).skipped_ticks == 2
    Job.objects.filter(pk=first.pk).update(status=JobStatus.COMPLETED)
    assert start_scheduled_job(schedule.pk) is not None
    # Another subject's job of the same kind never blocks this schedule.
    other = schedule_job("diagnostics.echo", subject=make_user(), interval=timedelta(seconds=5))
    assert start_scheduled_job(other.pk) is not None


def test_unschedule_removes_the_periodic_task(make_user):
    subject = make_user()
    schedule_job("diagnostics.echo", subject=subject, interval=timedelta(minutes=1))
    assert unschedule_job("diagnostics.echo", subject=subject) is True
    assert not JobSchedule.objects.exists()
    assert not PeriodicTask.objects.filter(task=SCHEDULED_JOB_TASK).exists()
    assert unschedule_job("diagnostics.echo", subject=subject) is False


@pytest.mark.parametrize(
    "timing, message",
    [
        ({}, "exactly one"),
        ({"interval": timedelta(minutes=1), "crontab": "* * * * *"}, "exactly one"),
        ({"interval": timedelta(0)}, "at least one second"),
        ({"crontab": "0 3 * *"}, "five fields"),
        ({"crontab": "99 * * * *"}, "Invalid crontab"),
    ],
)
def test_bad_timings_are_refused(timing, message):
    with pytest.raises(InvalidSchedule, match=message):
        schedule_job("diagnostics.echo", **timing)
    assert not PeriodicTask.objects.filter(task=SCHEDULED_JOB_TASK).exists()


def test_operators_see_schedules_and_edit_their_timing_in_the_admin(client, make_user):
    admin = make_user("admin", is_staff=True, is_superuser=True)
    schedule = schedule_job("diagnostics.echo", subject=admin, interval=timedelta(minutes=10))
    client.force_login(admin)
    listing = client.get("/admin/core/jobschedule/")
    assert listing.status_code == 200 and "diagnostics.echo" in listing.content.decode()
    page = client.get(f"/admin/core/jobschedule/{schedule.pk}/change/").content.decode()
    task_url = f"/admin/django_celery_beat/periodictask/{schedule.periodic_task_id}/change/"
    assert task_url in page
    assert client.get(task_url).status_code == 200
