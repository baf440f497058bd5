"""Retention and orphaned-job clean-up."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus
from core.services.housekeeping import delete_expired_jobs, run_housekeeping
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db


def test_old_finished_jobs_are_deleted_with_their_logs(settings):
    settings.JOB_RETENTION_DAYS = 7
    now = timezone.now()
    old = make_job(status=JobStatus.COMPLETED, finished_at=now - timedelta(days=8))
    recent = make_job(status=JobStatus.FAILED, finished_at=now - timedelta(days=2))
    old_running = make_job(status=JobStatus.RUNNING, heartbeat_at=now)
    Job.objects.filter(pk=old_running.pk).update(created_at=now - timedelta(days=30))
    JobLogLine.objects.create(job=old, seq=1, line="x", created_at=now)
    log_file = Path(settings.JOB_LOG_DIR) / f"{old.pk}.log"
    log_file.write_text("x\n")
    assert delete_expired_jobs() == 1
    assert not Job.objects.filter(pk=old.pk).exists()
    assert not JobLogLine.objects.filter(job_id=old.pk).exists()
    assert not log_file.exists()
    assert Job.objects.filter(pk__in=[recent.pk, old_running.pk]).count() == 2


def test_housekeeping_hands_jobs_without_heartbeat_to_recovery():
    """The last resort when no worker runs (each worker's monitor normally does it)."""
    now = timezone.now()
    stale = make_job(
        status=JobStatus.RUNNING,
        heartbeat_at=now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 5),
        attempts=1,
    )
    alive = make_job(status=JobStatus.RUNNING, heartbeat_at=now, attempts=1)
    assert run_housekeeping()["lost_jobs"] == 1
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == JobStatus.PENDING  # diagnostics.echo is safe to re-run
    assert "no heartbeat" in stale.interruptions[0]["reason"]
    assert alive.status == JobStatus.RUNNING


def test_housekeeping_task_reports_what_it_did():
    assert run_housekeeping() == {"deleted_jobs": 0, "lost_jobs": 0}


def test_housekeeping_is_scheduled_on_beat():
    schedule = settings.CELERY_BEAT_SCHEDULE["core.housekeeping"]
    assert schedule["task"] == "core.tasks.housekeeping"
    from config.celery import app

    app.loader.import_default_modules()
    assert "core.tasks.housekeeping" in app.tasks
