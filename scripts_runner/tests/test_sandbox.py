"""A script in the core sandbox: what is script-specific (credentials, the data directory, a
script's limits and timeout in the job's error, ScriptError, progress, stored parameters, the
run folder). The sandbox itself (environment, every limit, cancel, orphans, output order,
exit statuses) is tested in core/tests/test_sandbox.py."""

import os
import time
from pathlib import Path

import pytest

from core.models import JobStatus
from core.services.jobs import execute_job
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


def test_a_script_gets_the_data_dir_and_no_credential_it_did_not_declare(
    monkeypatch, settings, data_dir
):
    monkeypatch.setenv("SCRIPT_CREDENTIAL_T_TOKEN", "tok-not-declared-by-the-probe")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    # Listing a credential in the allowlist does not hand it to every script.
    settings.SCRIPTS_ENV_ALLOWLIST = ["HTTPS_PROXY", "SCRIPT_CREDENTIAL_T_TOKEN"]
    job = run_script("t_env_probe")
    assert job.status == JobStatus.COMPLETED, job.error
    assert "SECRET_KEY=<unset>" in script_lines(job)
    summary = job.result["summary"]
    assert not any(name.startswith("SCRIPT_CREDENTIAL_") for name in summary["env"])
    assert summary["data_dir"] == str(data_dir)
    assert summary["proxy"] == "http://proxy.internal:3128"
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


def test_a_scripts_limits_are_its_sandboxs_and_the_job_error_names_the_one_hit():
    started = time.monotonic()
    job = run_script("t_memory_hog")
    assert job.status == JobStatus.FAILED
    first = job.error.split("\n")[0]
    assert first == (
        "ScriptRunFailed: Memory limit exceeded: the script needed more than its 200 MB of "
        "address space."
    )
    assert "holding" in job.error  # the last output lines follow the message
    assert "memory 200 MB" in log_lines(job)[0]  # the runner's header states the limits
    assert time.monotonic() - started < 20


def test_a_scripts_timeout_is_its_wall_clock_limit():
    started = time.monotonic()
    job = run_script("t_timeout")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith(
        "ScriptRunFailed: Wall-clock timeout: the script ran longer than 1 s and was killed."
    )
    assert time.monotonic() - started < 10


def test_a_scripts_progress_and_lines_reach_its_job_in_order():
    job = run_script("t_chatter", {"rounds": 200})
    assert job.status == JobStatus.COMPLETED, job.error
    expected = [line for i in range(1, 201) for line in (f"out {i}", f"err {i}")]
    assert script_lines(job) == [*expected, "tail end"]
    assert job.progress == 100
    assert job.phase == "round 200"
    assert job.result["summary"] == {"rounds": 200}
    assert not any(line.startswith("PROGRESS") for line in log_lines(job))


def test_a_script_error_fails_the_job_with_its_message_and_last_lines():
    job = run_script("t_failer", {"how": "error"})
    assert job.status == JobStatus.FAILED
    first = job.error.split("\n\n")[0]
    assert first.startswith("ScriptRunFailed: The script exited with code 1.")
    assert "ERROR: the input was bad" in first
    assert "Traceback" not in first
    assert "working 29" in first
    assert "working 0\n" not in first  # only the tail is kept

    job = run_script("t_failer", {"how": "crash"})
    assert "RuntimeError: unexpected" in job.error.split("\n\n")[0]


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


def test_a_script_not_safe_to_repeat_runs_as_an_unsafe_section(monkeypatch):
    """A lost worker then fails the job for an operator to check instead of re-running it."""
    from core.models import Job
    from core.testing.helpers import run_in_thread, wait_until
    from scripts_runner.scripts.emit_lines import EmitLines
    from scripts_runner.services.runs import create_script_job

    monkeypatch.setattr(EmitLines, "rerun_safe", False)
    job = create_script_job("emit_lines", {"lines": 60, "interval_ms": 20}, owner=None)
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: Job.objects.get(pk=job.pk).unsafe_section == "running emit_lines")
    thread.join(30)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.unsafe_section == ""


def test_every_registered_script_says_whether_it_is_safe_to_repeat():
    from scripts_runner.services.registry import all_scripts

    shipped = [s for s in all_scripts() if s.__module__.startswith("scripts_runner.scripts.")]
    assert {script.name for script in shipped if not script.rerun_safe} == {"shopify_upload"}
