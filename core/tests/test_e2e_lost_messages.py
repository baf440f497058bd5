"""A job whose broker message was lost (Redis restarted without persistence) still runs: the
housekeeping sweep sends it again, and a message that arrives twice runs the job once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus
from core.services.housekeeping import run_housekeeping
from core.services.job_lifecycle import resend_pending_job
from core.testing.helpers import make_job, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def finished(job_id):
    return Job.objects.get(pk=job_id).status in (JobStatus.COMPLETED, JobStatus.FAILED)


def test_a_pending_job_whose_message_was_lost_is_sent_again_and_runs(
    celery_worker_process, settings
):
    settings.JOB_PENDING_RESEND_SECONDS = 60
    # A job row committed whose message never reached a worker: nothing was sent at all.
    job = make_job(params={"lines": 3})
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=120))
    assert run_housekeeping()["resent_jobs"] == 1
    wait_until(lambda: finished(job.pk), timeout=60)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 1
    lines = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("line", flat=True))
    assert "sent to the 'default' queue again" in lines[0]
    assert run_housekeeping()["resent_jobs"] == 0


def test_a_job_sent_twice_runs_once(celery_worker_process):
    job = make_job(params={"lines": 3, "delay_ms": 300})
    resend_pending_job(job)
    resend_pending_job(job)
    wait_until(lambda: finished(job.pk), timeout=60)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 1
    echoed = JobLogLine.objects.filter(job=job, line__startswith="line ").count()
    assert echoed == 3
