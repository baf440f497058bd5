"""csv/diff: two code lists compared by a key column, a CSV report and a summary."""

import csv
import io
import tracemalloc

import pytest

from codes.models import CodeBatch
from core.models import JobStatus

from .helpers import log_text, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

DIFF = "/api/automation/csv/diff"


def report(client, job_id) -> list[dict]:
    response = client.get(f"/api/batch-jobs/{job_id}/results")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def lists(data_dir):
    """An old and a new list: reordered, one changed, one removed, one added, a duplicated
    key, a row without a key, a column only in the new file."""
    write_csv(
        data_dir / "old.csv",
        [
            ["code", "discount", "campaign"],
            ["A-1", "10", "spring"],
            ["A-2", "10", "spring"],
            ["A-3", "15", "spring"],
            ["A-4", "20", "summer"],
        ],
    )
    write_csv(
        data_dir / "new.csv",
        [
            ["Code", "Campaign", "Discount", "Note"],
            ["a-4", "summer", "20", "moved to the top"],
            [" A-2 ", "fall", "12", ""],
            ["A-1", "spring", "10", ""],
            ["A-5", "spring", "10", "new"],
            ["A-5", "spring", "99", "again"],
            ["", "spring", "10", "no key"],
        ],
    )
    return "old.csv", "new.csv"


def test_two_lists_are_compared_by_key_with_counts_and_a_report(client_for, lists):
    client = client_for("operator")

    started = start(client, DIFF, {"diff_old": lists[0], "diff_new": lists[1]})
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert started["job_type"] == "fienta.csv_diff"
    batch = CodeBatch.objects.get(pk=started["batch_id"])
    summary = batch.summary
    assert (summary["added"], summary["removed"], summary["changed"]) == (1, 1, 1)
    assert (summary["duplicate_key"], summary["missing_key"]) == (1, 1)
    assert summary["unchanged"] == 2  # A-1, A-4 (moved, other case: same key)
    assert (summary["old_rows"], summary["new_rows"]) == (4, 6)
    assert summary["key_column"] == "code"
    assert summary["compared_columns"] == ["discount", "campaign"]
    assert summary["columns_only_in_new"] == ["note"]
    assert batch.counts == {
        "added": 1,
        "removed": 1,
        "changed": 1,
        "duplicate_key": 1,
        "missing_key": 1,
    }
    rows = {(r["change"], r["key"]): r for r in report(client, job.pk)}
    assert set(rows) == {
        ("missing_key", ""),
        ("changed", "A-2"),
        ("removed", "A-3"),
        ("added", "A-5"),
        ("duplicate_key", "A-5"),
    }
    changed = rows[("changed", "A-2")]
    assert changed["changed_columns"] == "discount;campaign"
    assert (changed["old:discount"], changed["new:discount"]) == ("10", "12")
    assert (changed["old:campaign"], changed["new:campaign"]) == ("spring", "fall")
    assert (changed["old_row"], changed["new_row"]) == ("2", "2")
    removed = rows[("removed", "A-3")]
    assert (removed["old_row"], removed["new_row"], removed["old:discount"]) == ("3", "", "15")
    added = rows[("added", "A-5")]
    assert (added["new_row"], added["new:discount"], added["new:note"]) == ("4", "10", "new")
    assert rows[("duplicate_key", "A-5")]["new_row"] == "5"
    detail = client.get(f"/api/batch-jobs/{job.pk}").json()
    assert detail["batch"]["summary"]["added"] == 1
    assert detail["data"]["results"]["summary"]["changed"] == 1
    assert "only the platform's codes changed" in log_text(job)


def test_keys_may_be_compared_in_exact_case_and_by_another_column(client_for, data_dir):
    write_csv(data_dir / "old.csv", [["id", "code"], ["x1", "A"], ["X2", "B"]])
    write_csv(data_dir / "new.csv", [["id", "code"], ["X1", "A"], ["X2", "C"]])
    client = client_for("operator")

    job = run(
        start(
            client,
            DIFF,
            {
                "diff_old": "old.csv",
                "diff_new": "new.csv",
                "key_column": "ID",
                "case_sensitive": True,
            },
        )["job_id"]
    )

    assert job.status == JobStatus.COMPLETED, job.error
    changes = sorted((r["change"], r["key"]) for r in report(client, job.pk))
    assert changes == [("added", "X1"), ("changed", "X2"), ("removed", "x1")]


def test_a_file_postgresql_refuses_is_compared_row_by_row(client_for, data_dir):
    (data_dir / "old.csv").write_bytes("code;name\nA-1;Müller\nA-2;x;extra\n".encode("latin-1"))
    write_csv(data_dir / "new.csv", [["code", "name"], ["A-1", "Müller"]], delimiter=";")
    client = client_for("operator")

    started = start(client, DIFF, {"diff_old": "old.csv", "diff_new": "new.csv"})
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert "read row by row" in log_text(job)
    summary = CodeBatch.objects.get(pk=started["batch_id"]).summary
    assert summary["ragged_rows"]["old"] == 1
    assert summary["removed"] == 1
    # latin-1 is read with replacement characters: A-1's name differs from the UTF-8 one.
    assert summary["changed"] == 1


def test_a_missing_key_column_fails_with_a_message_naming_the_columns(client_for, data_dir):
    write_csv(data_dir / "old.csv", [["code", "discount"], ["A", "1"]])
    write_csv(data_dir / "new.csv", [["coupon", "discount"], ["A", "1"]])
    client = client_for("operator")

    job = run(start(client, DIFF, {"diff_old": "old.csv", "diff_new": "new.csv"})["job_id"])

    assert job.status == JobStatus.FAILED
    error = client.get(f"/api/batch-jobs/{job.pk}").json()["error"]
    assert "new.csv has no 'code' column" in error
    assert "coupon, discount" in error


def test_uploaded_files_are_compared(client_for, tmp_path):
    old = write_csv(tmp_path / "o.csv", [["code"], ["A"], ["B"]])
    new = write_csv(tmp_path / "n.csv", [["code"], ["B"], ["C"]])
    client = client_for("operator")

    with old.open("rb") as old_file, new.open("rb") as new_file:
        response = client.post(
            DIFF, {"old_file": old_file, "new_file": new_file}, format="multipart"
        )
    assert response.status_code == 202, response.content
    job = run(response.json()["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert sorted(r["change"] for r in report(client, job.pk)) == ["added", "removed"]
    assert CodeBatch.objects.get(pk=response.json()["batch_id"]).source == "o.csv / n.csv"


@pytest.mark.parametrize(
    "body",
    [
        {"diff_old": "old.csv"},
        {"diff_new": "new.csv"},
        {"diff_old": "old.csv", "diff_new": "missing.csv"},
        {"diff_old": "old.csv", "diff_new": "book.xlsx"},
        {"diff_old": "../old.csv", "diff_new": "new.csv"},
        {"diff_old": "old.csv", "diff_new": "new.csv", "key_column": ""},
        {"diff_old": "old.csv", "diff_new": "new.csv", "case_sensitive": "perhaps"},
        {"diff_old": "old.csv", "diff_new": "new.csv", "unknown": 1},
    ],
)
def test_bad_diff_requests_are_a_400(client_for, data_dir, body):
    write_csv(data_dir / "old.csv", [["code"], ["A"]])
    write_csv(data_dir / "new.csv", [["code"], ["A"]])
    (data_dir / "book.xlsx").write_bytes(b"PK")

    response = client_for("operator").post(DIFF, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]
    assert not CodeBatch.objects.exists()


def test_large_lists_are_compared_in_bounded_memory(client_for, data_dir):
    rows = 200_000
    with (data_dir / "old.csv").open("w") as handle:
        handle.write("code,discount,campaign\n")
        handle.writelines(f"CODE-{n:07d},10,spring\n" for n in range(rows))
    with (data_dir / "new.csv").open("w") as handle:
        handle.write("code,discount,campaign\n")
        # Reversed order, every 1000th changed, the first 10 removed, 10 added.
        handle.writelines(
            f"CODE-{n:07d},{11 if n % 1000 == 0 else 10},spring\n" for n in range(rows + 9, 9, -1)
        )
    client = client_for("operator")
    started = start(client, DIFF, {"diff_old": "old.csv", "diff_new": "new.csv"})

    tracemalloc.start()
    try:
        job = run(started["job_id"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert job.status == JobStatus.COMPLETED, job.error
    summary = CodeBatch.objects.get(pk=started["batch_id"]).summary
    assert (summary["added"], summary["removed"], summary["changed"]) == (10, 10, 199)
    assert summary["unchanged"] == rows - 10 - 199
    # The files (~5 MB each) never sit in the worker's memory: a block at a time.
    assert peak < 12 * 1024 * 1024, f"peak {peak:,} bytes"
