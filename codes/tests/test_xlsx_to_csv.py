"""xlsx-to-csv: one sheet of a workbook as CSV, read as a stream."""

import csv
import io
import tracemalloc
from datetime import date, datetime

import openpyxl
import pytest

from codes.models import CodeBatch
from core.models import JobStatus

from .helpers import log_text, run, start

pytestmark = pytest.mark.django_db(transaction=True)

CONVERT = "/api/automation/xlsx-to-csv"


def workbook(path, sheets: dict[str, list[list]]):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def converted(client, job_id, *, delimiter=",") -> list[list[str]]:
    response = client.get(f"/api/batch-jobs/{job_id}/results")
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


@pytest.fixture
def book(data_dir):
    return workbook(
        data_dir / "codes.xlsx",
        {
            "Summary": [["total"], [3]],
            "Codes": [
                ["code", "discount", "expiry", "note"],
                ["A-1", 10.0, date(2030, 6, 30), "first"],
                ["A-2", 12.5, datetime(2030, 1, 1, 10, 30), None],
                ["A-3", None, None, None],
            ],
        },
    )


def test_the_named_sheet_becomes_a_csv_with_cells_as_text(client_for, book):
    client = client_for("operator")

    started = start(client, CONVERT, {"xlsx_path": "codes.xlsx", "sheet": "Codes"})
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert started["job_type"] == "csv.xlsx_to_csv"
    assert converted(client, job.pk) == [
        ["code", "discount", "expiry", "note"],
        ["A-1", "10", "2030-06-30T00:00:00", "first"],  # Excel dates are date-times
        ["A-2", "12.5", "2030-01-01T10:30:00", ""],
        ["A-3", "", "", ""],  # as wide as the header: every row has every column
    ]
    batch = CodeBatch.objects.get(pk=started["batch_id"])
    assert batch.summary["sheet"] == "Codes" and batch.summary["rows"] == 4
    assert batch.summary["output_path"] == f"code_batches/{batch.pk}/codes.csv"
    assert "Converting sheet 'Codes' of codes.xlsx" in log_text(job)


def test_the_first_sheet_by_default_or_a_sheet_by_number(client_for, book):
    client = client_for("operator")

    first = run(start(client, CONVERT, {"xlsx_path": "codes.xlsx"})["job_id"])
    second = run(start(client, CONVERT, {"xlsx_path": "codes.xlsx", "sheet": "2"})["job_id"])

    assert converted(client, first.pk) == [["total"], ["3"]]
    assert converted(client, second.pk)[0] == ["code", "discount", "expiry", "note"]


def test_an_output_path_and_a_delimiter_may_be_given(client_for, book, data_dir):
    client = client_for("operator")

    job = run(
        start(
            client,
            CONVERT,
            {
                "xlsx_path": "codes.xlsx",
                "sheet": "Codes",
                "output_path": "exports/codes.csv",
                "delimiter": ";",
            },
        )["job_id"]
    )

    assert job.status == JobStatus.COMPLETED, job.error
    text = (data_dir / "exports" / "codes.csv").read_text()
    assert text.splitlines()[1] == "A-1;10;2030-06-30T00:00:00;first"
    assert converted(client, job.pk, delimiter=";")[1][0] == "A-1"


def test_a_sheet_the_workbook_lacks_fails_naming_its_sheets(client_for, book):
    client = client_for("operator")

    by_name = run(start(client, CONVERT, {"xlsx_path": "codes.xlsx", "sheet": "Nope"})["job_id"])
    by_number = run(start(client, CONVERT, {"xlsx_path": "codes.xlsx", "sheet": "3"})["job_id"])

    for job in (by_name, by_number):
        assert job.status == JobStatus.FAILED
        error = client.get(f"/api/batch-jobs/{job.pk}").json()["error"]
        assert "its sheets: Summary, Codes" in error


def test_a_file_that_is_not_a_workbook_fails_with_a_clear_error(client_for, data_dir):
    (data_dir / "broken.xlsx").write_bytes(b"this is not a zip archive")
    (data_dir / "damaged.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    client = client_for("operator")

    for name in ("broken.xlsx", "damaged.xlsx"):
        job = run(start(client, CONVERT, {"xlsx_path": name})["job_id"])
        assert job.status == JobStatus.FAILED
        error = client.get(f"/api/batch-jobs/{job.pk}").json()["error"]
        assert f"{name} is not" in error and "XLSX workbook" in error


def test_an_uploaded_workbook_is_converted(client_for, tmp_path):
    path = workbook(tmp_path / "up.xlsx", {"S": [["code"], ["U-1"]]})
    client = client_for("operator")

    with path.open("rb") as handle:
        response = client.post(CONVERT, {"file": handle}, format="multipart")
    assert response.status_code == 202, response.content
    job = run(response.json()["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert converted(client, job.pk) == [["code"], ["U-1"]]


def test_an_upload_that_is_not_a_workbook_is_a_400(client_for, tmp_path):
    fake = tmp_path / "fake.xlsx"
    fake.write_text("code\nA-1\n")

    with fake.open("rb") as handle:
        response = client_for("operator").post(CONVERT, {"file": handle}, format="multipart")

    assert response.status_code == 400
    assert "does not look like XLSX" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"xlsx_path": "codes.csv"},
        {"xlsx_path": "missing.xlsx"},
        {"xlsx_path": "../codes.xlsx"},
        {"xlsx_path": "codes.xlsx", "output_path": "../out.csv"},
        {"xlsx_path": "codes.xlsx", "output_path": "/etc/out.csv"},
        {"xlsx_path": "codes.xlsx", "output_path": "out.txt"},
        {"xlsx_path": "codes.xlsx", "delimiter": "x"},
        {"xlsx_path": "codes.xlsx", "headless": True},
    ],
)
def test_bad_conversion_requests_are_a_400(client_for, book, data_dir, body):
    (data_dir / "codes.csv").write_text("code\n")

    response = client_for("operator").post(CONVERT, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]
    assert not CodeBatch.objects.exists()


def test_a_long_sheet_is_read_as_a_stream(client_for, data_dir):
    rows = 10_000
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Codes")
    sheet.append(["code", "discount", "campaign", "note"])
    for n in range(rows):
        sheet.append([f"CODE-{n:06d}", n % 50, "spring", "a note of some length"])
    book.save(data_dir / "long.xlsx")
    client = client_for("operator")
    started = start(client, CONVERT, {"xlsx_path": "long.xlsx"})

    tracemalloc.start()
    try:
        job = run(started["job_id"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert job.status == JobStatus.COMPLETED, job.error
    assert CodeBatch.objects.get(pk=started["batch_id"]).summary["rows"] == rows + 1
    # Loading the sheet whole holds 40,000 cells (~17 MB here); a stream holds a row.
    assert peak < 6 * 1024 * 1024, f"peak {peak:,} bytes"
    assert converted(client, job.pk)[-1] == [
        f"CODE-{rows - 1:06d}",
        "49",
        "spring",
        "a note of some length",
    ]
