"""The jobs REST API: visibility, filters, logs, running, statistics, retry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus

from .helpers import make_job

pytestmark = pytest.mark.django_db


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_users_see_their_own_jobs_and_staff_see_all(client_for, make_user):
    alice = client_for("operator")
    bob = client_for("operator")
    admin = client_for("admin")
    mine = make_job(owner=alice.user)
    theirs = make_job(owner=bob.user)
    assert ids(alice.get("/api/jobs/")) == {str(mine.pk)}
    assert alice.get(f"/api/jobs/{theirs.pk}/").status_code == 404
    assert ids(admin.get("/api/jobs/")) == {str(mine.pk), str(theirs.pk)}
    staff = client_for("viewer", is_staff=True)
    assert ids(staff.get("/api/jobs/")) == {str(mine.pk), str(theirs.pk)}


def test_filters_on_kind_status_and_date(client_for):
    client = client_for("admin")
    old = make_job(kind="diagnostics.echo", status=JobStatus.FAILED)
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    new = make_job(kind="other.kind", status=JobStatus.COMPLETED)
    assert ids(client.get("/api/jobs/?kind=other.kind")) == {str(new.pk)}
    assert ids(client.get("/api/jobs/?status=failed")) == {str(old.pk)}
    assert ids(client.get("/api/jobs/?status=failed&status=completed")) == {
        str(old.pk),
        str(new.pk),
    }
    after = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(client.get("/api/jobs/", {"created_after": after})) == {str(new.pk)}
    bad = client.get("/api/jobs/?status=exploded")
    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["fields"]


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume")
def test_logs_download_as_text_in_order(client_for):
    client = client_for("operator")
    job = make_job(owner=client.user)
    now = timezone.now()
    JobLogLine.objects.bulk_create(
        [JobLogLine(job=job, seq=i, line=f"line {i}", created_at=now) for i in range(1, 12001)]
    )
    response = client.get(f"/api/jobs/{job.pk}/logs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = b"".join(response).decode()
    lines = text.splitlines()
    assert len(lines) == 12000
    assert lines[0] == "line 1" and lines[-1] == "line 12000"


def test_running_lists_pending_and_running_only(client_for):
    client = client_for("admin")
    running = make_job(status=JobStatus.RUNNING)
    pending = make_job(status=JobStatus.PENDING)
    make_job(status=JobStatus.COMPLETED)
    assert ids(client.get("/api/jobs/running")) == {str(running.pk), str(pending.pk)}


def test_stats_summary_counts_and_rates(client_for):
    client = client_for("admin")
    now = timezone.now()
    for status, seconds in [
        (JobStatus.COMPLETED, 2),
        (JobStatus.COMPLETED, 4),
        (JobStatus.FAILED, 6),
    ]:
        make_job(status=status, started_at=now - timedelta(seconds=seconds), finished_at=now)
    make_job(kind="other.kind", status=JobStatus.PENDING)
    body = client.get("/api/jobs/stats/summary").json()
    assert body["total"] == 4
    assert body["by_status"]["completed"] == 2
    assert body["by_status"]["failed"] == 1
    assert body["by_status"]["pending"] == 1
    assert body["by_kind"] == {"diagnostics.echo": 3, "other.kind": 1}
    assert body["mean_duration_seconds"] == pytest.approx(4.0)
    assert body["failure_rate"] == pytest.approx(1 / 3)


def test_retry_over_the_api_creates_a_new_pending_job(
    client_for, django_capture_on_commit_callbacks
):
    client = client_for("operator")
    job = make_job(owner=client.user, status=JobStatus.FAILED, params={"lines": 2})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/api/jobs/{job.pk}/retry")
    assert response.status_code == 201
    body = response.json()
    assert body["retry_of"] == str(job.pk)
    assert body["params"] == {"lines": 2}
    assert len(callbacks) == 1  # enqueued only after commit
    running = make_job(owner=client.user, status=JobStatus.RUNNING)
    assert client.post(f"/api/jobs/{running.pk}/retry").status_code == 409
