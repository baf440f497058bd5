"""The jobs REST API: visibility, filters, logs, running, statistics, retry, representation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus
from core.services.job_access import split_job_error
from core.services.job_kinds import declare_job_kind
from core.services.jobs import execute_job
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_users_see_their_own_jobs_and_staff_see_all_when_they_ask(client_for, make_user):
    alice = client_for("operator")
    bob = client_for("operator")
    admin = client_for("admin")
    mine = make_job(owner=alice.user)
    theirs = make_job(owner=bob.user)
    system = make_job(owner=None)
    assert ids(alice.get("/api/jobs/")) == {str(mine.pk)}
    assert alice.get(f"/api/jobs/{theirs.pk}/").status_code == 404
    # Seed 000: "GET /api/jobs: all jobs for the current user", staff included.
    assert ids(admin.get("/api/jobs/")) == set()
    everyone = {str(mine.pk), str(theirs.pk), str(system.pk)}
    assert ids(admin.get("/api/jobs/?owner=all")) == everyone
    staff = client_for("viewer", is_staff=True)
    assert ids(staff.get("/api/jobs/?owner=all")) == everyone
    assert ids(staff.get("/api/jobs/", {"owner": bob.user.email.upper()})) == {str(theirs.pk)}
    assert ids(staff.get("/api/jobs/", {"owner": str(alice.user.pk)})) == {str(mine.pk)}
    assert ids(staff.get("/api/jobs/", {"owner": "nobody@example.com"})) == set()
    assert ids(staff.get("/api/jobs/", {"owner": "999999999999999999999"})) == set()


def test_others_jobs_are_refused_to_non_staff_with_403(client_for):
    alice = client_for("operator")
    bob = client_for("operator")
    mine = make_job(owner=alice.user)
    make_job(owner=bob.user)
    for path in ["/api/jobs/", "/api/jobs/running", "/api/jobs/stats/summary"]:
        for owner in ["all", bob.user.email, str(bob.user.pk), "nobody@example.com"]:
            response = alice.get(path, {"owner": owner})
            assert response.status_code == 403, (path, owner)
            error = response.json()["error"]
            assert error["code"] == "permission_denied"
            assert "owner" in error["fields"]
    assert ids(alice.get("/api/jobs/", {"owner": alice.user.email})) == {str(mine.pk)}
    assert ids(alice.get("/api/jobs/", {"owner": "me"})) == {str(mine.pk)}
    for garbage in ["bob", "\x00@example.com", " me", "x" * 250 + "@a.bc", "1" * 255]:
        bad = alice.get("/api/jobs/", {"owner": garbage})
        assert bad.status_code == 400, garbage
        assert "owner" in bad.json()["error"]["fields"]


def test_running_and_statistics_cover_the_callers_own_jobs_unless_staff_ask(client_for):
    alice = client_for("operator")
    admin = client_for("admin")
    mine = make_job(owner=alice.user, status=JobStatus.RUNNING)
    other = make_job(owner=admin.user, status=JobStatus.PENDING)
    assert ids(alice.get("/api/jobs/running")) == {str(mine.pk)}
    assert ids(admin.get("/api/jobs/running")) == {str(other.pk)}
    assert ids(admin.get("/api/jobs/running?owner=all")) == {str(mine.pk), str(other.pk)}
    assert alice.get("/api/jobs/stats/summary").json()["total"] == 1
    assert admin.get("/api/jobs/stats/summary?owner=all").json()["total"] == 2


def test_a_jobs_owner_and_staff_may_open_cancel_and_retry_it(
    client_for, django_capture_on_commit_callbacks
):
    alice = client_for("operator")
    bob = client_for("operator")
    staff = client_for("operator", is_staff=True)
    job = make_job(owner=alice.user, status=JobStatus.FAILED)
    assert bob.get(f"/api/jobs/{job.pk}/").status_code == 404
    assert bob.post(f"/api/jobs/{job.pk}/retry").status_code == 404
    assert alice.get(f"/api/jobs/{job.pk}/").status_code == 200
    assert staff.get(f"/api/jobs/{job.pk}/").status_code == 200
    with django_capture_on_commit_callbacks(execute=False):
        assert alice.post(f"/api/jobs/{job.pk}/retry").status_code == 201
        assert staff.post(f"/api/jobs/{job.pk}/retry").status_code == 201
    pending = make_job(owner=alice.user)
    assert bob.post(f"/api/jobs/{pending.pk}/cancel").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.post(f"/api/jobs/{pending.pk}/cancel").status_code == 202
    pending.refresh_from_db()
    assert pending.status == JobStatus.CANCELLED


def test_filters_on_kind_status_and_date(client_for):
    client = client_for("admin")
    old = make_job(kind="diagnostics.echo", status=JobStatus.FAILED, owner=client.user)
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    new = make_job(kind="other.kind", status=JobStatus.COMPLETED, owner=client.user)
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
    assert ids(client.get("/api/jobs/running?owner=all")) == {str(running.pk), str(pending.pk)}


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
    body = client.get("/api/jobs/stats/summary?owner=all").json()
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


# --- The job's representation ----------------------------------------------------------------


def kind_detail_for_tests(job):
    """Detail fields of the `tests.detailed` kind (named by dotted path in its declaration)."""
    return {"filename": f"{job.title}.csv", "total_rows": 3, "status": "overridden?"}


declare_job_kind(
    "tests.detailed",
    handler=lambda ctx: None,
    detail="core.tests.test_jobs_api.kind_detail_for_tests",
)


def test_every_job_carries_job_id_and_completed_at(client_for):
    client = client_for("operator")
    now = timezone.now()
    done = make_job(owner=client.user, status=JobStatus.COMPLETED, started_at=now, finished_at=now)
    listed = client.get("/api/jobs/").json()["results"][0]
    detail = client.get(f"/api/jobs/{done.pk}").json()
    for body in (listed, detail):
        assert body["job_id"] == body["id"] == str(done.pk)
        assert body["completed_at"] == body["finished_at"]
        assert body["completed_at"] is not None
    pending = make_job(owner=client.user)
    assert client.get(f"/api/jobs/{pending.pk}").json()["completed_at"] is None


def test_job_detail_adds_the_kinds_own_fields_at_the_top_level(client_for):
    client = client_for("operator")
    job = make_job(kind="tests.detailed", owner=client.user, title="feed")
    body = client.get(f"/api/jobs/{job.pk}/").json()
    assert body["filename"] == "feed.csv"
    assert body["total_rows"] == 3
    assert body["status"] == "pending"  # the job's own fields win over a kind's
    listed = client.get("/api/jobs/").json()["results"][0]
    assert "filename" not in listed


def test_a_job_of_an_undeclared_kind_shows_just_the_job(client_for):
    client = client_for("operator")
    job = make_job(kind="gone.kind", owner=client.user)
    response = client.get(f"/api/jobs/{job.pk}/")
    assert response.status_code == 200
    assert response.json()["kind"] == "gone.kind"


@pytest.mark.django_db(transaction=True)
def test_a_failed_jobs_traceback_is_shown_to_staff_only(client_for):
    owner = client_for("operator")
    staff = client_for("viewer", is_staff=True)
    admin = client_for("admin")
    job = make_job(owner=owner.user, params={"lines": 3, "fail_at_line": 2})
    execute_job(job.pk)
    seen_by_owner = owner.get(f"/api/jobs/{job.pk}/").json()
    assert seen_by_owner["status"] == "failed"
    assert seen_by_owner["error"] == "RuntimeError: failing at line 2 as asked"
    assert seen_by_owner["traceback"] is None
    assert "File " not in owner.get("/api/jobs/").content.decode()
    for client in (staff, admin):
        body = client.get(f"/api/jobs/{job.pk}/").json()
        assert body["error"] == "RuntimeError: failing at line 2 as asked"
        assert body["traceback"].startswith("Traceback (most recent call last):")
        assert "diagnostics.py" in body["traceback"]


def test_split_job_error_keeps_a_multi_paragraph_message_whole():
    text = "ScriptRunFailed: exit 1\n\nlast lines:\nboom\n\nTraceback (most recent call last):\n  x"
    message, traceback = split_job_error(text)
    assert message == "ScriptRunFailed: exit 1\n\nlast lines:\nboom"
    assert traceback == "Traceback (most recent call last):\n  x"
    assert split_job_error("Cancelled by request.") == ("Cancelled by request.", None)
