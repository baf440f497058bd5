"""The sandbox: reduced environment, resource limits, cancel, output order and progress."""

import os
import time
from pathlib import Path

import psutil
import pytest

from core.models import Job, JobStatus
from core.services.jobs import cancel_job, execute_job
from core.tests.helpers import run_in_thread, wait_until
from scripts_runner.services import sandbox
from scripts_runner.services.registry import get_script
from scripts_runner.services.runs import (
    InvalidScriptParameters,
    create_script_job,
    job_dir_for,
)

from .helpers import log_lines, run_script, script_lines

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dir", "sandbox_scripts"),
]


def test_child_sees_no_secret_of_the_worker(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "worker-secret-key-value")
    monkeypatch.setenv("SCRIPT_CREDENTIAL_T_TOKEN", "tok-not-declared-by-the-probe")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    job = run_script("t_env_probe")
    assert job.status == JobStatus.COMPLETED, job.error
    lines = script_lines(job)
    assert "SECRET_KEY=<unset>" in lines
    assert "DATABASE_URL=<unset>" in lines
    assert "REDIS_URL=<unset>" in lines
    assert "DJANGO_SETTINGS_MODULE=<unset>" in lines
    summary = job.result["summary"]
    allowed = {
        "PATH",
        "LANG",
        "LC_ALL",
        "TZ",
        "HOME",
        "TMPDIR",
        "PYTHONPATH",
        "PYTHONIOENCODING",
        "PYTHONDONTWRITEBYTECODE",
        "PLATFORM_DATA_DIR",
        "SCRIPTS_RUN_TOKEN",
        "LC_CTYPE",
    }
    assert set(summary["env"]) <= allowed
    assert not any(name.startswith("SCRIPT_CREDENTIAL_") for name in summary["env"])
    run_dir = str(job_dir_for(job.pk).resolve())
    assert summary["cwd"] == run_dir
    assert summary["home"] == run_dir


def test_declared_credential_reaches_the_child_and_never_the_log(monkeypatch):
    monkeypatch.setenv("SCRIPT_CREDENTIAL_T_TOKEN", "tok-1234567890")
    job = run_script("t_token_user")
    assert job.status == JobStatus.COMPLETED, job.error
    lines = log_lines(job)
    assert "token present: True" in lines
    assert "leaking it: [REDACTED]" in lines
    assert not any("tok-1234567890" in line for line in lines)
    assert job.result["summary"] == {"length": 14}


def test_a_missing_required_credential_is_refused_at_launch(monkeypatch):
    monkeypatch.delenv("SCRIPT_CREDENTIAL_T_TOKEN", raising=False)
    with pytest.raises(InvalidScriptParameters) as caught:
        create_script_job("t_token_user", {})
    assert "t_token" in caught.value.fields["credentials"][0]


def test_memory_hog_is_stopped_by_the_address_space_limit():
    started = time.monotonic()
    job = run_script("t_memory_hog")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("ScriptRunFailed: Memory limit exceeded")
    assert "200 MB" in job.error.split("\n")[0]
    assert "holding" in job.error  # the last output lines follow the message
    assert time.monotonic() - started < 20


def test_cpu_loop_is_stopped_by_the_cpu_time_limit():
    started = time.monotonic()
    job = run_script("t_cpu_loop")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("ScriptRunFailed: CPU time limit exceeded")
    assert "1 s of CPU time" in job.error
    assert time.monotonic() - started < 15


def test_writing_past_the_file_size_limit_kills_the_script():
    job = run_script("t_file_hog")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("ScriptRunFailed: File size limit exceeded")
    assert "1 MB" in job.error
    assert "wrote everything" not in log_lines(job)
    assert (job_dir_for(job.pk) / "big.bin").stat().st_size <= 1024 * 1024


def test_opening_too_many_files_names_the_open_files_limit():
    job = run_script("t_open_files")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("ScriptRunFailed: Open files limit exceeded")
    assert "32 files" in job.error


def test_wall_clock_timeout_kills_a_script_that_waits():
    started = time.monotonic()
    job = run_script("t_timeout")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("ScriptRunFailed: Wall-clock timeout")
    assert "1 s" in job.error
    assert time.monotonic() - started < 10


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancel_kills_the_whole_process_tree_within_two_seconds():
    job = create_script_job("t_sleeper", {"seconds": 60})
    pids_file = job_dir_for(job.pk) / "pids.txt"
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(pids_file.exists, timeout=15)
    assert wait_until(lambda: "sleeping" in " ".join(log_lines(job)), timeout=10)
    pids = [int(pid) for pid in pids_file.read_text().split()]
    assert all(psutil.pid_exists(pid) for pid in pids)
    started = time.monotonic()
    cancel_job(job.pk)
    assert wait_until(
        lambda: Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED, timeout=2.0, interval=0.02
    )
    elapsed = time.monotonic() - started
    thread.join(5)
    assert elapsed < 2.0
    assert wait_until(lambda: all(_gone(pid) for pid in pids), timeout=1.0)
    job.refresh_from_db()
    assert job.error == "Cancelled by request."


def test_no_process_is_left_behind_after_a_normal_end(data_dir):
    """Children a script leaves running (in its group or not) are killed when it ends."""
    job = create_script_job("t_sleeper", {"seconds": 1})
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    pids = [int(pid) for pid in (job_dir_for(job.pk) / "pids.txt").read_text().split()]
    assert wait_until(lambda: all(_gone(pid) for pid in pids), timeout=2.0)


def test_stdout_stderr_and_progress_arrive_in_the_order_printed(data_dir):
    events = []
    spec = sandbox.ChildSpec(
        script=get_script("t_chatter"),
        params={"rounds": 3},
        job_dir=data_dir / "run",
        data_dir=data_dir,
    )
    outcome = sandbox.run_child(
        spec,
        on_lines=lambda lines: events.extend(("line", line) for line in lines),
        on_progress=lambda percent, message: events.append(("progress", percent, message)),
    )
    assert outcome.status == sandbox.COMPLETED
    assert outcome.summary == {"rounds": 3}
    assert events == [
        ("line", "out 1"),
        ("line", "err 1"),
        ("progress", 33.0, "round 1"),
        ("line", "out 2"),
        ("line", "err 2"),
        ("progress", 66.0, "round 2"),
        ("line", "out 3"),
        ("line", "err 3"),
        ("progress", 100.0, "round 3"),
        ("line", "PROGRESS 250 not a progress line"),
        ("line", "tail end"),
    ]


def test_a_job_stores_lines_in_order_and_ends_with_the_last_progress():
    job = run_script("t_chatter", {"rounds": 200})
    assert job.status == JobStatus.COMPLETED, job.error
    expected = [line for i in range(1, 201) for line in (f"out {i}", f"err {i}")]
    assert script_lines(job) == [*expected, "PROGRESS 250 not a progress line", "tail end"]
    assert job.progress == 100
    assert job.result["summary"] == {"rounds": 200}
    assert not any(line.startswith("PROGRESS 100") for line in log_lines(job))


def test_a_failing_script_fails_the_job_with_its_last_lines():
    job = run_script("t_failer", {"how": "error"})
    assert job.status == JobStatus.FAILED
    first = job.error.split("\n\n")[0]
    assert first.startswith("ScriptRunFailed: The script exited with code 1.")
    assert "ERROR: the input was bad" in first
    assert "working 29" in first
    assert "working 0\n" not in first  # only the tail is kept

    job = run_script("t_failer", {"how": "exit"})
    assert job.error.startswith("ScriptRunFailed: The script exited with code 7.")

    job = run_script("t_failer", {"how": "crash"})
    assert "RuntimeError: unexpected" in job.error.split("\n\n")[0]

    job = run_script("t_failer", {"how": "signal"})
    assert job.error.startswith("ScriptRunFailed: The script was killed by signal SIGTERM.")


def test_stored_parameters_are_checked_again_when_the_job_runs(data_dir, tmp_path):
    source = data_dir / "products.csv"
    source.write_text("sku\nA\n")
    job = create_script_job(
        "filter_products",
        {"input_file": "products.csv", "sku_file": "products.csv", "output_file": "out.csv"},
    )
    # Between launch and run, the input becomes a link to a file outside the data directory.
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("sku\nB\n")
    source.unlink()
    os.symlink(outside, source)
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "no longer valid" in job.error
    assert "outside the data directory" in job.error
    assert not Path(job_dir_for(job.pk) / ".sandbox").exists()


def test_deleting_a_run_deletes_its_folder():
    job = run_script("t_chatter", {"rounds": 1})
    folder = job_dir_for(job.pk)
    assert (folder / ".sandbox").is_dir()
    other = create_script_job("t_chatter", {"rounds": 1})
    job_dir_for(other.pk).mkdir(parents=True)
    job.delete()
    assert not folder.exists()
    assert job_dir_for(other.pk).exists()
