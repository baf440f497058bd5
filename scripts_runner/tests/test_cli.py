"""`manage.py runscript`: same validation, same sandbox, the log printed to the terminal."""

import csv
import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from core.models import Job, JobStatus
from devtools.stack import child_env

pytestmark = [pytest.mark.django_db(transaction=True)]


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("runscript", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_runs_a_script_and_prints_its_log_in_order(data_dir):
    out, err = run("emit_lines", "--param", "lines=50", "-p", "interval_ms=1")
    printed = [line for line in out.splitlines() if line.startswith("line ")]
    assert printed == [f"line {n}" for n in range(1, 51)]
    assert "Completed" in err
    job = Job.objects.get()
    assert job.status == JobStatus.COMPLETED
    assert job.params["parameters"]["lines"] == 50  # parsed from text, stored typed


def test_invalid_parameters_are_all_listed_with_exit_status_2(data_dir):
    with pytest.raises(CommandError) as caught:
        run("emit_lines", "-p", "lines=0", "-p", "fail=perhaps", "-p", "colour=red")
    message = str(caught.value)
    assert "lines: Must be at least 1." in message
    assert "fail: Expected a boolean (true or false)." in message
    assert "colour: Unknown parameter." in message
    assert caught.value.returncode == 2
    assert not Job.objects.exists()


def test_file_parameters_are_confined_from_the_command_line_too(data_dir):
    with pytest.raises(CommandError) as caught:
        run("cleanup_duplicates", "-p", "folder=/etc")
    assert "folder: The path is outside the data directory." in str(caught.value)


def test_a_failing_script_makes_the_command_fail(data_dir):
    with pytest.raises(CommandError) as caught:
        run("emit_lines", "-p", "lines=3", "-p", "fail=yes")
    assert "Script failed: ScriptRunFailed: The script exited with code 3." in str(caught.value)
    assert Job.objects.get().status == JobStatus.FAILED


def test_repeated_params_make_a_multi_choice(data_dir):
    images = data_dir / "img"
    images.mkdir()
    (images / "a.png").write_bytes(b"same")
    (images / "b.png").write_bytes(b"same")
    (images / "c.gif").write_bytes(b"same")
    out, _ = run(
        "cleanup_duplicates", "-p", "folder=img", "-p", "extensions=png", "-p", "extensions=jpg"
    )
    job = Job.objects.get()
    assert job.params["parameters"]["extensions"] == ["png", "jpg"]
    assert job.result["summary"]["duplicates"] == 1  # c.gif is not looked at
    with open(job.result["summary"]["report_file"], newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 2
    assert "would_delete" in out


def test_list_shows_the_scripts_by_category():
    out, _ = run("--list")
    assert "Data import" in out and "ftp_download" in out and "full_import" in out


def test_the_real_command_line(data_dir):
    env = child_env()
    env["PLATFORM_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "manage.py", "runscript", "emit_lines", "--param", "lines=3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("line ")] == [
        "line 1",
        "line 2",
        "line 3",
    ]
    bad = subprocess.run(
        [sys.executable, "manage.py", "runscript", "emit_lines", "--param", "lines=-1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert "lines: Must be at least 1." in bad.stderr
