"""create-codes: files and patterns, per-row outcomes, dry runs, re-runs, uploads."""

from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from codes.models import Code, CodeBatch, CodeType
from codes.services.patterns import PLACEHOLDER
from core.models import JobStatus

from .factories import make_codes
from .helpers import log_text, result_rows, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "/api/automation/fienta/create-codes"


def test_the_documents_example_creates_codes_from_a_csv_with_per_row_outcomes(client_for, data_dir):
    make_codes(1, prefix="OLD")
    write_csv(
        data_dir / "data" / "new_codes.csv",
        [
            ["code", "type", "discount", "campaign", "expiry"],
            ["SPRING-1", "discount", "10", "spring", "2030-06-30"],
            ["spring-2", "", "12.5%", "spring", ""],
            ["Spring-1", "discount", "10", "", ""],  # the same code, other case
            ["old-0001", "", "", "", ""],  # exists already
            ["", "discount", "5", "", ""],  # blank code
            ["X" * 300, "", "", "", ""],
            ["HAS SPACE", "", "", "", ""],
            ["BAD-TYPE", "Not A Type", "", "", ""],
            ["BAD-DISCOUNT", "", "150", "", ""],
            ["BAD-EXPIRY", "", "", "", "next tuesday"],
            ["ACCESS-1", "access", "", "", "2030-01-01T10:00:00+02:00"],
        ],
    )
    client = client_for("operator")

    started = start(
        client, CREATE, {"csv_path": "data/new_codes.csv", "dry_run": False, "headless": True}
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert started["job_type"] == "fienta.create_codes"
    outcomes = {row["row"]: row["outcome"] for row in result_rows(client, job.pk)}
    assert outcomes == {
        "1": "created",
        "2": "created",
        "3": "duplicate",
        "4": "taken",
        "5": "blank",
        "6": "too_long",
        "7": "bad_characters",
        "8": "invalid_type",
        "9": "invalid_discount",
        "10": "invalid_expiry",
        "11": "created",
    }
    spring = Code.objects.get(code="SPRING-1")
    assert spring.discount_percent == Decimal("10.00")
    assert spring.campaign == "spring"
    assert spring.expires_at == datetime(2030, 7, 1, tzinfo=UTC)  # valid through June 30th
    assert spring.created_by == client.user
    assert Code.objects.get(code="spring-2").discount_percent == Decimal("12.50")
    access = Code.objects.get(code="ACCESS-1")
    assert access.code_type_id == "access" and access.expires_at.hour == 8
    batch = CodeBatch.objects.get(pk=started["batch_id"])
    assert batch.counts["created"] == 3 and batch.counts["taken"] == 1
    assert batch.total_rows == 11 and batch.applied_at is not None
    assert set(Code.objects.filter(batch=batch).values_list("code", flat=True)) == {
        "SPRING-1",
        "spring-2",
        "ACCESS-1",
    }
    assert "only the platform's codes changed" in log_text(job)
    detail = client.get(f"/api/batch-jobs/{job.pk}").json()
    assert detail["data"]["status"] == "completed"
    assert detail["data"]["results"]["counts"]["duplicate"] == 1


def test_a_dry_run_reports_without_creating(client_for, data_dir):
    write_csv(data_dir / "codes.csv", [["code"], ["A-1"], ["A-2"], ["a-1"]])
    client = client_for("operator")

    started = start(client, CREATE, {"csv_path": "codes.csv", "dry_run": True})
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert [row["outcome"] for row in result_rows(client, job.pk)] == [
        "would_create",
        "would_create",
        "duplicate",
    ]
    assert not Code.objects.exists()
    assert CodeBatch.objects.get(pk=started["batch_id"]).applied_at is None


def test_running_the_same_batch_again_converges(client_for, data_dir):
    write_csv(data_dir / "codes.csv", [["code"], ["R-1"], ["R-2"]])
    client = client_for("operator")
    started = start(client, CREATE, {"csv_path": "codes.csv"})
    run(started["job_id"])

    retry = client.post(f"/api/jobs/{started['job_id']}/retry")
    assert retry.status_code == 201
    again = run(retry.json()["id"])

    assert again.status == JobStatus.COMPLETED, again.error
    assert [row["outcome"] for row in result_rows(client, again.pk)] == ["created", "created"]
    assert Code.objects.count() == 2


def test_a_pattern_generates_distinct_codes_and_replaces_taken_ones(client_for):
    client = client_for("operator")
    make_codes(1, prefix="P")  # P-0001 ... collides with the pattern P-#### below
    Code.objects.create(code="P-0002", code_type_id="discount")

    started = start(
        client,
        CREATE,
        {
            "pattern": f"P-{PLACEHOLDER * 4}",
            "count": 9990,
            "code_type": "discount",
            "discount_percent": "15",
        },
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    codes = list(Code.objects.filter(batch_id=started["batch_id"]).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 9990
    assert all(len(code) == 6 and code[2:].isdigit() for code in codes)
    assert Code.objects.filter(code__startswith="P-").count() == 9992
    assert Code.objects.get(code=codes[0]).discount_percent == Decimal("15.00")


def test_a_pattern_that_cannot_yield_enough_codes_is_refused(client_for):
    client = client_for("operator")

    small = client.post(CREATE, {"pattern": "VIP-##", "count": 101}, format="json")
    no_slot = client.post(CREATE, {"pattern": "VIP", "count": 1}, format="json")
    cased = client.post(CREATE, {"pattern": "V-###", "count": 5, "charset": "abcA"}, format="json")

    assert small.status_code == 400
    assert "at most 100 distinct codes" in small.json()["error"]["message"]
    assert no_slot.status_code == cased.status_code == 400
    assert not CodeBatch.objects.exists()


def test_paths_are_confined_to_the_data_directory(client_for, data_dir, tmp_path):
    outside = write_csv(tmp_path / "outside.csv", [["code"], ["X-1"]])
    (data_dir / "link.csv").symlink_to(outside)
    client = client_for("operator")

    for path in ["../outside.csv", str(outside), "link.csv", "missing.csv", "data"]:
        response = client.post(CREATE, {"csv_path": path}, format="json")
        assert response.status_code == 400, path
        assert "csv_path" in response.json()["error"]["fields"]
    both = client.post(CREATE, {"csv_path": "a.csv", "pattern": "A-#", "count": 1}, format="json")
    assert both.status_code == 400


def test_an_uploaded_xlsx_file_is_read_like_a_csv(client_for, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Code", "Discount Percent", "Expiry"])
    sheet.append(["XL-1", 20, datetime(2031, 1, 1, 12, 0)])
    sheet.append(["XL-2", 5.5, None])
    path = tmp_path / "codes.xlsx"
    book.save(path)
    client = client_for("operator")

    with path.open("rb") as handle:
        response = client.post(CREATE, {"file": handle, "dry_run": "false"}, format="multipart")
    assert response.status_code == 202, response.content
    job = run(response.json()["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert Code.objects.get(code="XL-1").discount_percent == Decimal("20.00")
    assert Code.objects.get(code="XL-1").expires_at == datetime(2031, 1, 1, 12, tzinfo=UTC)
    assert Code.objects.get(code="XL-2").discount_percent == Decimal("5.50")
    batch = CodeBatch.objects.get(pk=response.json()["batch_id"])
    assert batch.source == "codes.xlsx"


def test_an_upload_that_is_not_a_table_is_refused_and_leaves_nothing(client_for, data_dir):
    client = client_for("operator")
    fake = data_dir.parent / "codes.xlsx"
    fake.write_text("not a zip")

    with fake.open("rb") as handle:
        response = client.post(CREATE, {"file": handle}, format="multipart")

    assert response.status_code == 400
    uploads = data_dir / "uploads" / "codes"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_a_file_without_a_code_column_fails_the_job_with_a_clear_error(client_for, data_dir):
    write_csv(data_dir / "codes.csv", [["name", "value"], ["x", "1"]])
    client = client_for("operator")

    job = run(start(client, CREATE, {"csv_path": "codes.csv"})["job_id"])

    assert job.status == JobStatus.FAILED
    assert "no code column" in client.get(f"/api/batch-jobs/{job.pk}").json()["error"]


def test_new_codes_take_the_defaults_and_create_their_type(client_for, data_dir):
    CodeType.objects.create(slug="vip", default_discount_percent=30)
    write_csv(data_dir / "codes.csv", [["code", "type"], ["V-1", "vip"], ["N-1", "newtype"]])
    client = client_for("operator")

    job = run(start(client, CREATE, {"csv_path": "codes.csv", "campaign": "gala"})["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    vip = Code.objects.get(code="V-1")
    assert (vip.discount_percent, vip.campaign) == (Decimal("30.00"), "gala")
    assert CodeType.objects.filter(slug="newtype").exists()
    assert not Code.objects.filter(status="used").exists()
