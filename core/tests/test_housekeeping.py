"""Retention and orphaned-job clean-up."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus
from core.services.housekeeping import delete_expired_jobs, run_housekeeping
from core.services.job_lifecycle import _enqueue as real_enqueue  # before the fixture replaces it
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
    assert run_housekeeping() == {"deleted_jobs": 0, "lost_jobs": 0, "resent_jobs": 0}


def test_pending_jobs_no_worker_took_are_sent_again_and_say_so(settings, enqueued_jobs):
    settings.JOB_PENDING_RESEND_SECONDS = 600
    now = timezone.now()
    long_ago = now - timedelta(seconds=900)
    lost = make_job(status=JobStatus.PENDING, enqueued_at=long_ago)
    never_sent = make_job(status=JobStatus.PENDING)  # its commit hook never sent it
    just_sent = make_job(status=JobStatus.PENDING, enqueued_at=now - timedelta(seconds=60))
    running = make_job(status=JobStatus.RUNNING, heartbeat_at=now, enqueued_at=long_ago)
    Job.objects.filter(pk__in=[lost.pk, never_sent.pk, just_sent.pk, running.pk]).update(
        created_at=long_ago
    )
    assert run_housekeeping()["resent_jobs"] == 2
    resent = sorted(str(job.pk) for job in enqueued_jobs)
    assert resent == sorted([str(lost.pk), str(never_sent.pk)])
    line = JobLogLine.objects.get(job=lost).line
    assert "sent to the 'default' queue again" in line and "900 s" in line
    assert not JobLogLine.objects.filter(job__in=[just_sent, running]).exists()


def test_sending_a_job_stamps_when_it_was_sent(monkeypatch):
    job = make_job(status=JobStatus.PENDING)
    sent = []
    monkeypatch.setattr(
        "celery.current_app.send_task", lambda name, **options: sent.append((name, options))
    )
    before = timezone.now()
    real_enqueue(job)
    job.refresh_from_db()
    assert job.enqueued_at >= before
    assert sent == [
        (
            "core.tasks.run_job",
            {"args": [str(job.pk)], "queue": job.queue, "task_id": job.celery_task_id},
        )
    ]


def test_housekeeping_is_scheduled_on_beat():
    schedule = settings.CELERY_BEAT_SCHEDULE["core.housekeeping"]
    assert schedule["task"] == "core.tasks.housekeeping"
    from config.celery import app

    app.loader.import_default_modules()
    assert "core.tasks.housekeeping" in app.tasks
