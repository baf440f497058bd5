"""The Fienta CLI: each bulk job runs the merchant's Node CLI (`npm run dev -- ...`) in the
sandbox, its output in the job's log with the credentials redacted.

The CLI is codes/tests/fienta_cli (a package.json whose `dev` script runs index.js): it
honours the real CLI's flags, prints what it does, records how it was called in
$HOME/fienta-invocation.json, and fails or waits when FAKE_FIENTA_EXIT / FAKE_FIENTA_SLEEP
ask it to.
"""

import json
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from codes.models import Code, CodeBatch
from codes.services.files import batch_dir
from core.models import Job, JobStatus
from core.services.jobs import execute_job
from core.testing.helpers import run_in_thread, wait_until

from .factories import make_codes
from .helpers import log_download, log_text, result_rows, run, start, write_csv

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed"),
]

CLI_DIR = Path(__file__).parent / "fienta_cli"
EMAIL = "merchant@example.com"
PASSWORD = "s3cret-Fienta-pw"


@pytest.fixture
def fienta(settings, monkeypatch):
    settings.FIENTA_CLI_DIR = str(CLI_DIR)
    settings.FIENTA_EMAIL = EMAIL
    settings.FIENTA_PASSWORD = PASSWORD
    settings.FIENTA_CLI_ENV_ALLOWLIST = ["FAKE_FIENTA_EXIT", "FAKE_FIENTA_SLEEP"]
    monkeypatch.delenv("FAKE_FIENTA_EXIT", raising=False)
    monkeypatch.delenv("FAKE_FIENTA_SLEEP", raising=False)
    return settings


def invocation(batch_id) -> dict:
    """How the CLI was called (it writes this file in its HOME, the run's folder)."""
    batch = CodeBatch.objects.get(pk=batch_id)
    return json.loads((batch_dir(batch) / "fienta" / "fienta-invocation.json").read_text())


def everything_logged(client, job: Job) -> str:
    """Every place the job's output lands: stored lines, the log download and file, the
    error, the result, the batch."""
    log_file = Path(settings.JOB_LOG_DIR) / f"{job.pk}.log"
    places = [log_text(job), log_download(client, job.pk), job.error or ""]
    places += [json.dumps(job.result), json.dumps(job.params)]
    places += [log_file.read_text() if log_file.exists() else ""]
    batch = CodeBatch.objects.get(pk=job.subject_id)
    return "\n".join([*places, json.dumps(batch.summary)])


def assert_no_secret(text: str) -> None:
    assert PASSWORD not in text
    assert EMAIL not in text


def test_create_codes_runs_the_cli_with_the_file_and_streams_its_output(
    fienta, client_for, data_dir
):
    write_csv(data_dir / "data" / "new_codes.csv", [["code"], ["NEW-1"], ["NEW-2"]])
    client = client_for("operator")

    started = start(
        client,
        "/api/automation/fienta/create-codes",
        {"csv_path": "data/new_codes.csv", "dry_run": False, "headless": True},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    called = invocation(started["batch_id"])
    assert called["flags"]["email"] == EMAIL and called["flags"]["password"] == PASSWORD
    assert called["env"] == {"FIENTA_EMAIL": EMAIL, "FIENTA_PASSWORD": PASSWORD}
    assert called["flags"]["headless"] is True and "dryRun" not in called["flags"]
    listed = Path(called["flags"]["csv"]).read_text().splitlines()
    assert listed[0].startswith("code,") and [line.split(",")[0] for line in listed[1:]] == [
        "NEW-1",
        "NEW-2",
    ]
    log = log_text(job)
    assert "did create NEW-1" in log and "did create NEW-2" in log and "Done" in log
    assert "Logging in to Fienta as [REDACTED] (password [REDACTED])" in log
    assert "FIENTA_EMAIL=[REDACTED] FIENTA_PASSWORD=[REDACTED]" in log
    assert "only the platform's codes changed" not in log
    assert_no_secret(everything_logged(client, job))
    summary = CodeBatch.objects.get(pk=started["batch_id"]).summary
    assert summary["fienta"]["status"] == "completed" and summary["fienta"]["exit_code"] == 0


def test_a_dry_run_passes_dry_run_and_lists_the_codes_that_would_be_created(
    fienta, client_for, data_dir
):
    write_csv(data_dir / "codes.csv", [["code"], ["D-1"], ["d-1"]])
    client = client_for("operator")

    started = start(
        client,
        "/api/automation/fienta/create-codes",
        {"csv_path": "codes.csv", "dry_run": True, "headless": False},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    flags = invocation(started["batch_id"])["flags"]
    assert flags["dryRun"] is True and "headless" not in flags
    listed = Path(flags["csv"]).read_text().splitlines()[1:]
    assert [line.split(",")[0] for line in listed] == ["D-1"]  # d-1 is a duplicate
    assert "would create D-1" in log_text(job)
    assert not Code.objects.exists()


def test_rename_codes_passes_the_rename_flags_and_the_old_codes_in_order(fienta, client_for):
    make_codes(2, prefix="OLD")
    client = client_for("operator")

    started = start(
        client,
        "/api/automation/fienta/rename-codes",
        {
            "codes": ["OLD-0002", "OLD-0001"],
            "rename_prefix": "MOB-",
            "rename_pad_length": 3,
            "rename_start": 1,
            "dry_run": False,
        },
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    flags = invocation(started["batch_id"])["flags"]
    assert (flags["renamePrefix"], flags["renamePadLength"], flags["renameStart"]) == (
        "MOB-",
        "3",
        "1",
    )
    log = log_text(job)
    assert "did rename OLD-0002 -> MOB-001" in log
    assert "did rename OLD-0001 -> MOB-002" in log
    assert_no_secret(everything_logged(client, job))


def test_update_discount_passes_the_new_percent(fienta, client_for):
    make_codes(2, prefix="U", discount_percent=Decimal("5"))
    client = client_for("operator")

    started = start(
        client,
        "/api/automation/fienta/update-discount",
        {"codes": ["U-0001", "U-0002"], "update_discount_percent": 15},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert invocation(started["batch_id"])["flags"]["updateDiscountPercent"] == "15.00"
    assert "did set U-0001 to 15.00%" in log_text(job)


def test_csv_diff_passes_both_files(fienta, client_for, data_dir):
    write_csv(data_dir / "old.csv", [["code"], ["A"]])
    write_csv(data_dir / "new.csv", [["code"], ["B"]])
    client = client_for("operator")

    started = start(
        client, "/api/automation/csv/diff", {"diff_old": "old.csv", "diff_new": "new.csv"}
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    flags = invocation(started["batch_id"])["flags"]
    assert Path(flags["diffOld"]) == (data_dir / "old.csv").resolve()
    assert Path(flags["diffNew"]) == (data_dir / "new.csv").resolve()


def test_a_failing_cli_fails_the_job_with_its_exit_code_and_last_lines(
    fienta, client_for, data_dir, monkeypatch
):
    monkeypatch.setenv("FAKE_FIENTA_EXIT", "3")
    write_csv(data_dir / "codes.csv", [["code"], ["F-1"]])
    client = client_for("operator")

    started = start(client, "/api/automation/fienta/create-codes", {"csv_path": "codes.csv"})
    job = run(started["job_id"])

    assert job.status == JobStatus.FAILED
    assert "exited with code 3" in job.error
    assert "Error: login failed for [REDACTED]" in job.error
    assert "Opening the discount codes page" in job.error
    assert_no_secret(everything_logged(client, job))
    detail = client.get(f"/api/batch-jobs/{job.pk}").json()
    assert "exited with code 3" in detail["data"]["error_message"]
    # The platform's change stands, with its result file: only Fienta is behind.
    assert Code.objects.filter(code="F-1").exists()
    assert [row["outcome"] for row in result_rows(client, job.pk)] == ["created"]


def test_a_cli_that_runs_too_long_is_stopped_at_the_timeout(
    fienta, client_for, data_dir, monkeypatch
):
    fienta.FIENTA_CLI_TIMEOUT_SECONDS = 2
    monkeypatch.setenv("FAKE_FIENTA_SLEEP", "60")
    write_csv(data_dir / "codes.csv", [["code"], ["T-1"]])
    client = client_for("operator")
    started = start(client, "/api/automation/fienta/create-codes", {"csv_path": "codes.csv"})

    began = time.monotonic()
    job = run(started["job_id"])

    assert time.monotonic() - began < 30
    assert job.status == JobStatus.FAILED
    assert "the Fienta CLI ran longer than 2 s and was killed" in job.error
    assert_no_process_left(started["batch_id"])


def test_cancelling_the_job_stops_the_cli(fienta, client_for, data_dir, monkeypatch):
    monkeypatch.setenv("FAKE_FIENTA_SLEEP", "60")
    write_csv(data_dir / "codes.csv", [["code"], ["C-1"]])
    client = client_for("operator")
    started = start(client, "/api/automation/fienta/create-codes", {"csv_path": "codes.csv"})

    thread = run_in_thread(execute_job, started["job_id"])
    job = Job.objects.get(pk=started["job_id"])
    assert wait_until(lambda: "waiting 60 s" in log_text(job), timeout=30)
    response = client.post(f"/api/batch-jobs/{job.pk}/cancel")
    assert response.status_code == 202, response.content
    thread.join(30)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert_no_process_left(started["batch_id"])


def assert_no_process_left(batch_id) -> None:
    """No process of the run (its folder in the command line) is alive."""
    folder = str(batch_dir(CodeBatch.objects.get(pk=batch_id)))
    found = subprocess.run(["pgrep", "-f", "fienta_cli"], capture_output=True, text=True)
    pids = [pid for pid in found.stdout.split() if pid.strip()]
    alive = []
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if folder in environ:
            alive.append(pid)
    assert not alive, f"processes of the run still alive: {alive}"


def test_without_a_cli_directory_the_log_says_only_the_platform_changed(client_for, data_dir):
    write_csv(data_dir / "codes.csv", [["code"], ["N-1"]])
    client = client_for("operator")

    job = run(
        start(client, "/api/automation/fienta/create-codes", {"csv_path": "codes.csv"})["job_id"]
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert (
        "FIENTA_CLI_DIR is not configured: only the platform's codes changed; Fienta was not "
        "updated" in log_text(job)
    )
    assert job.result["fienta"] == {"status": "not_configured"}


def test_a_cli_directory_without_package_json_fails_clearly(fienta, client_for, data_dir, tmp_path):
    fienta.FIENTA_CLI_DIR = str(tmp_path)
    write_csv(data_dir / "codes.csv", [["code"], ["P-1"]])
    client = client_for("operator")

    job = run(
        start(client, "/api/automation/fienta/create-codes", {"csv_path": "codes.csv"})["job_id"]
    )

    assert job.status == JobStatus.FAILED
    assert "holds no package.json" in job.error
