"""JOB_TIMEOUT_SECONDS (or a kind's own limit) stops a job like a cancel and fails it; a job
may name the object it works on (its subject) and be found by it."""

import time

import pytest

from core.models import Job, JobStatus
from core.services.jobs import JobContext, execute_job, jobs_about, retry_job, start_job
from core.testing.helpers import make_job, register_kind

pytestmark = pytest.mark.django_db(transaction=True)


@register_kind("tests.polite_sleeper")
def polite_sleeper(ctx: JobContext):
    for _ in range(400):
        ctx.check_cancelled()
        time.sleep(0.05)
    return {"slept": True}


@register_kind("tests.short_limit", timeout_seconds=1)
def short_limit(ctx: JobContext):
    end = time.monotonic() + 20
    while time.monotonic() < end:  # never checks: the watchdog must interrupt it
        sum(range(1000))
    return {}


def test_a_job_running_past_job_timeout_seconds_ends_failed_with_a_clear_error(settings):
    settings.JOB_TIMEOUT_SECONDS = 1
    started = time.monotonic()
    job = execute_job(make_job(kind="tests.polite_sleeper").pk)
    assert time.monotonic() - started < 5
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("Timed out: the job ran longer than its limit of 1 s")
    assert job.log_lines.filter(line__startswith="Timed out").exists()
    assert not job.cancel_requested


def test_a_kind_declares_its_own_limit_and_a_job_that_ignores_it_is_interrupted(settings):
    settings.JOB_TIMEOUT_SECONDS = 3600
    settings.JOB_CANCEL_GRACE_SECONDS = 0.5
    started = time.monotonic()
    job = execute_job(make_job(kind="tests.short_limit").pk)
    assert time.monotonic() - started < 6
    assert job.status == JobStatus.FAILED
    assert "Timed out" in job.error and "limit of 1 s" in job.error


def test_a_job_within_its_limit_is_untouched(settings):
    settings.JOB_TIMEOUT_SECONDS = 30
    job = execute_job(make_job(params={"lines": 5}).pk)
    assert job.status == JobStatus.COMPLETED


def test_jobs_name_their_subject_and_are_found_by_it(make_user):
    alice, bob = make_user("operator"), make_user("operator")
    first = start_job("diagnostics.echo", subject=alice, owner=alice)
    start_job("diagnostics.echo", subject=bob)
    start_job("diagnostics.echo")
    assert list(jobs_about(alice)) == [first]
    stored = Job.objects.get(pk=first.pk)
    assert stored.subject == alice
    assert (stored.subject_type.model, stored.subject_id) == ("user", str(alice.pk))


def test_a_retry_keeps_the_subject_even_when_the_object_is_gone(make_user):
    target = make_user("viewer")
    job = execute_job(start_job("diagnostics.echo", params={"lines": 1}, subject=target).pk)
    target_pk = target.pk
    target.delete()
    retry = retry_job(job.pk)
    assert (retry.subject_type_id, retry.subject_id) == (job.subject_type_id, str(target_pk))


def test_an_unsaved_subject_is_refused():
    from core.models import User

    with pytest.raises(ValueError, match="saved"):
        start_job("diagnostics.echo", subject=User(email="x@example.com"))


def test_the_jobs_api_shows_and_filters_by_subject(client_for):
    staff = client_for("admin", is_staff=True)
    target = staff.user
    about = start_job("diagnostics.echo", subject=target, owner=target)
    start_job("diagnostics.echo", owner=target)
    rows = staff.get(f"/api/jobs/?subject_type=core.user&subject_id={target.pk}&owner=all").json()[
        "results"
    ]
    assert [row["id"] for row in rows] == [str(about.pk)]
    assert rows[0]["subject"] == {"type": "core.user", "id": str(target.pk)}
    assert rows[0]["interruptions"] == []
    refused = staff.get("/api/jobs/?subject_type=user")
    assert refused.status_code == 400
    assert "app_label.model" in refused.json()["error"]["message"]
