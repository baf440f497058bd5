"""create-codes' fast path (codes.services.create_fast): the same outcomes and codes as a
file read row by row, whichever way each row went."""

import pytest

from codes.models import Code
from core.models import JobStatus

from .factories import make_codes
from .helpers import log_text, result_rows, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "/api/automation/fienta/create-codes"
ROWS = [
    ["code", "type", "discount", "amount", "campaign", "expiry"],
    ["FAST-1", "", "10", "", "spring", ""],
    ["  FAST-2  ", "Discount", " 12.5 ", "", "  summer sale ", ""],
    ["FAST-3", "access", "", "4.50", "", ""],
    ["fast-1", "", "", "", "", ""],  # duplicate, other case
    ["OLD-0001", "", "", "", "", ""],  # taken
    ["", "", "5", "", "", ""],  # blank code: row by row
    ["", "", "", "", "", ""],  # a blank line: skipped
    ["SLOW-1", "", "12.5%", "", "", ""],  # a percent sign: row by row
    ["SLOW-2", "", "", "", "", "2030-06-30"],  # an expiry: row by row
    ["BAD-1", "", "150", "", "", ""],
    ["BAD-2", "", "10", "3", "", ""],  # percent and amount
    ["BAD TYPE", "", "", "", "", ""],
    ["BAD-3", "Not A Type", "", "", "", ""],
    ["BAD-4", "", "", "", "x" * 129, ""],
    ["\u00a0NBSP-1\u00a0", "", "", "", "", ""],  # Unicode spaces: stripped by Python
    ["FAST-4", "", "100.00", "", "", ""],
]


def _create(client, data_dir, name):
    write_csv(data_dir / "data" / name, ROWS)
    started = start(client, CREATE, {"csv_path": f"data/{name}", "campaign": "default"})
    job = run(started["job_id"])
    assert job.status == JobStatus.COMPLETED, job.error
    codes = {
        c.code: (c.code_type_id, c.discount_percent, c.discount_amount, c.campaign, c.expires_at)
        for c in Code.objects.filter(batch_id=job.result["batch_id"])
    }
    return job, result_rows(client, job.pk), codes


def test_the_fast_path_gives_what_reading_row_by_row_gives(client_for, data_dir, monkeypatch):
    make_codes(1, prefix="OLD")
    client = client_for("operator")

    fast_job, fast_rows, fast_codes = _create(client, data_dir, "fast.csv")
    assert "rows checked in SQL" in log_text(fast_job)
    Code.objects.filter(batch_id=fast_job.result["batch_id"]).delete()
    monkeypatch.setattr("codes.services.bulk_create.stage_csv_fast", lambda *args: None)
    slow_job, slow_rows, slow_codes = _create(client, data_dir, "slow.csv")

    assert "rows checked in SQL" not in log_text(slow_job)
    assert fast_rows == slow_rows
    assert fast_codes == slow_codes
    assert fast_job.result["counts"] == slow_job.result["counts"]
    outcomes = {row["code"].strip(): row["outcome"] for row in fast_rows}
    assert outcomes["FAST-2"] == outcomes["SLOW-1"] == outcomes["NBSP-1"] == "created"
    assert outcomes["BAD-1"] == outcomes["BAD-2"] == "invalid_discount"
    assert fast_codes["FAST-2"][:4] == ("discount", 12.5, None, "summer sale")
    assert fast_codes["FAST-3"][0] == "access" and str(fast_codes["FAST-3"][2]) == "4.50"
    assert fast_codes["FAST-1"][3] == "spring" and fast_codes["FAST-4"][1] == 100


def test_a_file_with_quotes_is_read_row_by_row(client_for, data_dir):
    client = client_for("operator")
    write_csv(data_dir / "data" / "quoted.csv", [["code", "campaign"], ["Q-1", "a, b"]])
    started = start(client, CREATE, {"csv_path": "data/quoted.csv"})
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert "rows checked in SQL" not in log_text(job)
    assert Code.objects.get(code="Q-1").campaign == "a, b"
