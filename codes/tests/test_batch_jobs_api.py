"""/api/batch-jobs: seed 003's job API, served by the core Job engine."""

import uuid
from datetime import datetime

import pytest
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus
from core.testing.helpers import make_job

from .factories import make_codes
from .helpers import log_download, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "/api/automation/fienta/create-codes"
SEED_STATUSES = {"pending", "running", "completed", "failed", "cancelled"}


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["job_id"] for item in response.json()["results"]}


@pytest.fixture
def jobs(client_for, data_dir):
    """An operator's create-codes job (completed), rename job (failed), a pending
    update-discount job, and a diagnostics job of theirs; another operator's create job."""
    client = client_for("operator")
    write_csv(data_dir / "codes.csv", [["code"], ["J-1"], ["J-2"]])
    created = run(start(client, CREATE, {"csv_path": "codes.csv"})["job_id"])
    renamed = run(
        start(
            client,
            "/api/automation/fienta/rename-codes",
            {"codes": ["NOPE"], "rename_prefix": "X-"},
        )["job_id"]
    )
    pending = Job.objects.get(
        pk=start(
            client,
            "/api/automation/fienta/update-discount",
            {"codes": ["J-1"], "discount_percent": 5},
        )["job_id"]
    )
    echo = make_job(owner=client.user)
    other_client = client_for("operator")
    other = Job.objects.get(
        pk=start(other_client, CREATE, {"pattern": "O-###", "count": 3})["job_id"]
    )
    return {
        "client": client,
        "created": created,
        "renamed": renamed,
        "pending": pending,
        "echo": echo,
        "other": other,
        "other_client": other_client,
    }


def test_the_list_shows_the_callers_code_manager_jobs_newest_first(jobs):
    client = jobs["client"]

    response = client.get("/api/batch-jobs")

    assert ids(response) == {str(jobs[name].pk) for name in ("created", "renamed", "pending")}
    body = response.json()
    assert body["count"] == 3
    first = body["results"][0]
    assert first["job_id"] == str(jobs["pending"].pk)  # newest first
    assert (
        first["job_type"] == "fienta.update_discount" and first["kind"] == "codes.update_discount"
    )
    assert first["status"] in SEED_STATUSES
    assert {item["job_type"] for item in body["results"]} == {
        "fienta.create_codes",
        "fienta.rename_codes",
        "fienta.update_discount",
    }


def test_a_kind_filter_lists_any_kind_by_name_or_seed_alias(jobs):
    client = jobs["client"]

    assert ids(client.get("/api/batch-jobs?kind=diagnostics.echo")) == {str(jobs["echo"].pk)}
    assert ids(client.get("/api/batch-jobs?kind=fienta.create_codes")) == {str(jobs["created"].pk)}
    assert ids(client.get("/api/v1/batch-jobs?kind=codes.rename")) == {str(jobs["renamed"].pk)}
    assert ids(client.get("/api/batch-jobs?status=failed")) == {str(jobs["renamed"].pk)}
    assert client.get("/api/batch-jobs?status=lost").status_code == 400


def test_staff_may_list_everyones_jobs_others_may_not(jobs, client_for):
    admin = client_for("admin")

    everyone = ids(admin.get("/api/batch-jobs?owner=all"))
    refused = jobs["client"].get("/api/batch-jobs?owner=all")

    assert {str(jobs["created"].pk), str(jobs["other"].pk)} <= everyone
    assert str(jobs["echo"].pk) not in everyone
    assert refused.status_code == 403


def test_the_detail_carries_the_seeds_batch_jobs_row(jobs):
    client = jobs["client"]
    job = jobs["created"]

    response = client.get(f"/api/batch-jobs/{job.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["job_id"] == str(job.pk) and body["job_type"] == "fienta.create_codes"
    data = body["data"]
    assert data["id"] == str(job.pk)
    assert data["job_type"] == "fienta.create_codes"
    assert data["status"] == "completed"
    assert data["error_message"] is None
    assert data["created_by"] == client.user.email
    assert datetime.fromisoformat(data["completed_at"]) >= datetime.fromisoformat(
        data["created_at"]
    )
    results = data["results"]
    assert results["counts"] == {"created": 2}
    assert results["total_rows"] == 2
    assert results["result_file"] == f"/api/batch-jobs/{job.pk}/results"
    assert body["batch"]["id"] == int(job.subject_id) == data["results"]["id"]
    assert body["batch"]["operation"] == "create"
    failed = client.get(f"/api/batch-jobs/{jobs['renamed'].pk}").json()["data"]
    assert failed["status"] == "failed"
    assert "cannot be renamed" in failed["error_message"]
    assert "Traceback" not in failed["error_message"]


def test_others_jobs_and_unknown_ids_are_404(jobs):
    client = jobs["client"]

    assert client.get(f"/api/batch-jobs/{jobs['other'].pk}").status_code == 404
    assert client.get(f"/api/batch-jobs/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/batch-jobs/not-a-job").status_code == 404
    assert client.post(f"/api/batch-jobs/{jobs['other'].pk}/cancel").status_code == 404
    assert client.get(f"/api/batch-jobs/{jobs['other'].pk}/logs").status_code == 404


def test_cancel_stops_a_pending_job_and_refuses_a_finished_one(jobs):
    client = jobs["client"]

    cancelled = client.post(f"/api/batch-jobs/{jobs['pending'].pk}/cancel")
    finished = client.post(f"/api/v1/batch-jobs/{jobs['created'].pk}/cancel")

    assert cancelled.status_code == 202, cancelled.content
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert Job.objects.get(pk=jobs["pending"].pk).status == JobStatus.CANCELLED
    assert finished.status_code == 409
    assert finished.json()["error"]["code"]


def test_viewers_may_read_but_not_cancel(client_for):
    viewer_client = client_for("viewer")
    job = make_job(kind="codes.create", owner=viewer_client.user)

    assert viewer_client.get(f"/api/batch-jobs/{job.pk}").status_code == 200
    assert viewer_client.post(f"/api/batch-jobs/{job.pk}/cancel").status_code == 403
    assert Job.objects.get(pk=job.pk).status == JobStatus.PENDING


def test_logs_download_the_whole_log_as_text(jobs):
    client = jobs["client"]
    job = jobs["created"]

    text = log_download(client, job.pk)

    stored = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("line", flat=True))
    assert text.splitlines() == stored
    assert any("2 codes created" in line for line in stored)


def test_running_status_counts_pending_and_running_jobs(jobs):
    client = jobs["client"]
    Job.objects.filter(pk=jobs["pending"].pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    extra = Job.objects.get(pk=start(client, CREATE, {"pattern": "R-###", "count": 2})["job_id"])

    response = client.get("/api/batch-jobs/running/status")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["count"], body["running"], body["pending"]) == (2, 1, 1)
    assert [job["job_id"] for job in body["jobs"]] == [str(extra.pk), str(jobs["pending"].pk)]
    assert body["jobs"][0]["job_type"] == "fienta.create_codes"


def test_stats_summary_counts_by_status_and_kind(jobs):
    client = jobs["client"]

    response = client.get("/api/batch-jobs/stats/summary")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == 3
    assert body["by_status"]["completed"] == 1 and body["by_status"]["failed"] == 1
    assert body["by_status"]["pending"] == 1 and set(body["by_status"]) == SEED_STATUSES
    assert body["by_kind"] == {"codes.create": 1, "codes.rename": 1, "codes.update_discount": 1}
    assert body["failure_rate"] == 0.5
    assert isinstance(body["mean_duration_seconds"], float)
    everything = client.get("/api/v1/batch-jobs/stats/summary?kind=diagnostics.echo").json()
    assert everything["by_kind"] == {"diagnostics.echo": 1}


def test_the_results_file_of_a_job_without_one_is_404(jobs):
    client = jobs["client"]

    assert client.get(f"/api/batch-jobs/{jobs['pending'].pk}/results").status_code == 404
    assert client.get(f"/api/batch-jobs/{jobs['echo'].pk}/results").status_code == 404


def test_the_document_frontend_flow_start_then_poll(client_for, data_dir):
    """The seed's example: POST create-codes, read job_id, GET /batch-jobs/{job_id},
    read job.data.status."""
    make_codes(1, prefix="EXISTING")
    write_csv(data_dir / "data.csv", [["code"], ["FLOW-1"]])
    client = client_for("operator")

    response = client.post(CREATE, {"csv_path": "data.csv", "dry_run": False}, format="json")
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    before = client.get(f"/api/batch-jobs/{job_id}").json()
    run(job_id)
    after = client.get(f"/api/batch-jobs/{job_id}").json()

    assert before["data"]["status"] == "pending"
    assert after["data"]["status"] == "completed"
    assert after["data"]["results"]["counts"] == {"created": 1}
