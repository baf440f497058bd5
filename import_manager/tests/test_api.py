"""The import API and the catalog_import job, run in-process with execute_job."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import Job, JobStatus
from core.serializers import JobSerializer
from core.services.job_kinds import get_job_kind
from core.services.jobs import cancel_job, execute_job
from core.testing.helpers import run_in_thread, wait_until
from import_manager.jobs import CATALOG_IMPORT
from import_manager.models import ImportRowError, ImportRun
from import_manager.signals import import_completed
from product.models import Product

from .helpers import HEADER, catalog

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "sku,name,description,price,is_active\n"
    "A-1,Lamp,Brass,19.90,true\n"
    "B-2,Chair,,abc,true\n"
    "a-1,Lamp 2,Brass,20,false\n"
)
CSV_BYTES = CSV.encode()


def upload(client, name="p.csv", content=CSV_BYTES, **fields):
    return client.post(
        "/api/upload", {"file": SimpleUploadedFile(name, content), **fields}, format="multipart"
    )


@pytest.fixture
def completed():
    calls = []

    def receiver(sender, job, summary, **kwargs):
        calls.append((Job.objects.get(pk=job.pk).status, summary))

    import_completed.connect(receiver, weak=False, dispatch_uid="test-import-completed")
    yield calls
    import_completed.disconnect(dispatch_uid="test-import-completed")


def test_upload_returns_202_with_a_job_that_imports_the_file(operator, data_dir, completed):
    response = upload(operator)

    assert response.status_code == 202, response.content
    assert response.json()["message"] == "Upload started successfully"
    job_id = response.json()["job_id"]
    job = Job.objects.get(pk=job_id)
    assert (job.kind, job.status, job.queue) == ("catalog.import", JobStatus.PENDING, "imports")
    run = ImportRun.objects.get(job=job)
    assert (data_dir / run.stored_path).read_text() == CSV
    assert run.stored_path.startswith("uploads/")

    execute_job(job_id)

    assert catalog() == {"a-1": ("Lamp 2", "Brass", "20.00", False)}
    body = operator.get(f"/api/imports/{job_id}").json()
    assert {k: body[k] for k in ("filename", "status", "total_rows", "processed_rows")} == {
        "filename": "p.csv",
        "status": "completed",
        "total_rows": 3,
        "processed_rows": 3,
    }
    assert (body["success_count"], body["error_count"], body["progress"]) == (2, 1, 100)
    assert body["errors"] == [
        {"row": 2, "column": "price", "message": "is not a number", "value": "abc"}
    ]
    assert body["started_at"] and body["completed_at"]
    generic = operator.get(f"/api/jobs/{job_id}").json()
    assert generic["counters"]["processed_rows"] == 3
    assert generic["counters"]["error_count"] == 1
    assert generic["result"]["filename"] == "p.csv"
    assert generic["result"]["success_count"] == 2
    assert generic["result"]["errors"][0]["row"] == 2
    assert [status for status, _ in completed] == ["completed"]
    summary = completed[0][1]
    assert (summary["job_id"], summary["created"], summary["error_count"]) == (job_id, 1, 1)


SEED_JOB_STATUS_FIELDS = {
    "job_id",
    "filename",
    "status",
    "total_rows",
    "processed_rows",
    "success_count",
    "error_count",
    "progress",
    "errors",
    "started_at",
    "completed_at",
    "created_at",
}


def test_the_import_kind_adds_seed_004s_job_status_fields_to_the_job_detail(operator, data_dir):
    job_id = upload(operator).json()["job_id"]
    execute_job(job_id)
    job = Job.objects.get(pk=job_id)

    detail = get_job_kind(job.kind).detail(job)

    assert detail == {
        "job_id": job_id,
        "filename": "p.csv",
        "format": "csv",
        "source": "upload",
        "source_url": "",
        "dry_run": False,
        "total_rows": 3,
        "processed_rows": 3,
        "success_count": 2,
        "error_count": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "errors": [{"row": 2, "column": "price", "message": "is not a number", "value": "abc"}],
        "completed_at": job.finished_at.isoformat().replace("+00:00", "Z"),
    }
    # Merged into the generic representation (as core's JobSerializer does for the detail
    # view), every field of seed 004's job status is at the top level, JSON-ready.
    merged = json.loads(json.dumps({**JobSerializer(job).data, **detail}))
    assert set(merged) >= SEED_JOB_STATUS_FIELDS
    assert (merged["status"], merged["progress"]) == ("completed", 100)
    assert merged["completed_at"] == JobSerializer(job).data["finished_at"]


def test_a_failed_import_shows_why_in_its_job_detail(operator, data_dir):
    job_id = upload(operator, content=b"sku,title\nA,B\n").json()["job_id"]
    execute_job(job_id)
    job = Job.objects.get(pk=job_id)

    detail = CATALOG_IMPORT.detail(job)

    assert (detail["processed_rows"], detail["total_rows"]) == (0, None)
    assert "Missing required columns" in detail["errors"][0]["message"]


def test_dry_run_upload_writes_nothing(operator, data_dir):
    response = upload(operator, dry_run="true")
    execute_job(response.json()["job_id"])

    body = operator.get(f"/api/imports/{response.json()['job_id']}").json()
    assert (body["status"], body["dry_run"], body["success_count"]) == ("completed", True, 2)
    assert Product.objects.count() == 0


def test_wrong_header_fails_the_job_naming_the_missing_columns(operator, data_dir, completed):
    job_id = upload(operator, content=b"sku,title\nA,B\n").json()["job_id"]
    execute_job(job_id)

    body = operator.get(f"/api/imports/{job_id}").json()
    assert body["status"] == "failed"
    assert "Missing required columns: name, description, price, is_active" in body["error"]
    assert body["errors"][0]["row"] is None
    assert "name, description, price, is_active" in body["errors"][0]["message"]
    assert completed == []


def test_cancel_stops_after_a_batch_and_the_counts_match_the_database(operator, data_dir, settings):
    settings.IMPORT_BATCH_ROWS = 2_000
    settings.IMPORT_BATCH_SECONDS = 0.05
    lines = [",".join(HEADER)] + [f"C-{i},Name {i},,{i % 90 + 1},true" for i in range(200_000)]
    job_id = upload(operator, name="big.csv", content="\n".join(lines).encode()).json()["job_id"]

    thread = run_in_thread(execute_job, job_id)
    assert wait_until(
        lambda: Job.objects.get(pk=job_id).counters.get("processed_rows", 0) > 0, timeout=60
    )
    cancel_job(job_id)
    thread.join(60)

    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.CANCELLED
    counters = job.counters
    assert 0 < counters["processed_rows"] < 200_000
    assert counters["success_count"] == counters["processed_rows"] == counters["created"]
    assert Product.objects.count() == counters["created"]
    body = operator.get(f"/api/imports/{job_id}").json()
    assert (body["status"], body["processed_rows"]) == ("cancelled", Product.objects.count())


def test_too_large_upload_is_refused_with_413_and_leaves_no_file(operator, data_dir, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    response = upload(operator, content=CSV.encode() * 40)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "larger than the allowed 1000 bytes" in response.json()["error"]["message"]
    assert not any((data_dir / "uploads").glob("*/*"))
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("p.exe", b"MZ...", "extension"),
        ("products", CSV.encode(), "extension"),
        ("p.xlsx", CSV.encode(), "does not look like XLSX"),
        ("p.json", b"sku,name", "does not look like JSON"),
        ("p.csv", b"\x00\x01\x02binary", "does not look like CSV"),
    ],
)
def test_unknown_file_types_are_refused_with_400(operator, data_dir, name, content, expected):
    response = upload(operator, name=name, content=content)

    assert response.status_code == 400
    assert expected in response.json()["error"]["message"]
    assert not any((data_dir / "uploads").glob("*/*"))


def test_upload_file_names_are_sanitised(operator, data_dir):
    response = upload(operator, name="../../etc/cron.d/évil name?.csv")

    assert response.status_code == 202
    run = ImportRun.objects.get(job_id=response.json()["job_id"])
    assert run.filename == "evil_name_.csv"
    stored = (data_dir / run.stored_path).resolve()
    assert stored.parent.parent == (data_dir / "uploads").resolve()


def test_upload_needs_a_file_and_the_operator_role(operator, client_for, data_dir):
    missing = operator.post("/api/upload", {"dry_run": "true"}, format="multipart")
    assert missing.status_code == 400
    assert "file" in missing.json()["error"]["fields"]
    assert upload(client_for("viewer")).status_code == 403
    assert not any((data_dir / "uploads").glob("*/*"))


def test_imports_are_listed_for_their_owner(operator, client_for, data_dir):
    job_id = upload(operator).json()["job_id"]

    listing = operator.get("/api/imports").json()
    assert [item["job_id"] for item in listing["results"]] == [job_id]
    other = client_for("viewer")
    assert other.get("/api/imports").json()["count"] == 0
    assert other.get(f"/api/imports/{job_id}").status_code == 404


def test_row_errors_beyond_the_limit_are_counted_not_kept(operator, data_dir, settings):
    settings.IMPORT_MAX_ERRORS_KEPT = 5
    lines = [",".join(HEADER)] + [f"E-{i},n,,bad,true" for i in range(12)]
    job_id = upload(operator, content="\n".join(lines).encode()).json()["job_id"]
    execute_job(job_id)

    body = operator.get(f"/api/imports/{job_id}").json()
    assert body["error_count"] == 12 and len(body["errors"]) == 5
    assert ImportRowError.objects.filter(job_id=job_id).count() == 5


def test_deleting_an_import_job_removes_its_file(operator, data_dir):
    job_id = upload(operator).json()["job_id"]
    path = data_dir / ImportRun.objects.get(job_id=job_id).stored_path
    assert path.exists()

    Job.objects.filter(pk=job_id).delete()
    assert not path.parent.exists()
