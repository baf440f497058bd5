"""The sandbox service: reduced environment, redaction, resource limits, timeout, cancel, no
orphans, output order and progress, exit status → outcome, callables and commands alike."""

import os
import time
from pathlib import Path

import psutil
import pytest

from core.exceptions import JobCancelled
from core.models import Job, JobLogLine, JobStatus
from core.services.jobs import cancel_job, execute_job
from core.services.sandbox import (
    CANCELLED,
    COMPLETED,
    FAILED,
    Limits,
    SandboxSpec,
    remove_workdir,
    run_in_job,
    run_sandboxed,
)
from core.testing.helpers import make_job, register_kind, run_in_thread, wait_until

TARGETS = "core.tests.sandbox_targets"
SMALL = Limits(cpu_seconds=5, memory_mb=300, file_size_mb=5, open_files=64)


def target(name: str, workdir: Path, payload=None, **options) -> SandboxSpec:
    options.setdefault("limits", SMALL)
    options.setdefault("timeout", 20)
    return SandboxSpec.for_callable(f"{TARGETS}:{name}", payload or {}, workdir=workdir, **options)


def run(spec: SandboxSpec, **callbacks):
    """Run `spec`; returns (outcome, [lines], [(percent, message)])."""
    lines, progress = [], []
    outcome = run_sandboxed(
        spec,
        on_lines=lines.extend,
        on_progress=lambda percent, message: progress.append((percent, message)),
        **callbacks,
    )
    return outcome, lines, progress


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- environment and folder ----------------------------------------------------------------


def test_the_child_sees_the_allowlist_and_what_the_spec_adds_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "worker-secret-key-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    printed = ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "API_TOKEN"]
    spec = target(
        "env_probe",
        tmp_path / "run",
        {"print": printed},
        env={"API_TOKEN": "given-by-the-spec"},
        env_allowlist=["HTTPS_PROXY"],
    )

    outcome, lines, _ = run(spec)

    assert outcome.status == COMPLETED, outcome.error
    assert lines == [
        "SECRET_KEY=<unset>",
        "DATABASE_URL=<unset>",
        "REDIS_URL=<unset>",
        "DJANGO_SETTINGS_MODULE=<unset>",
        "API_TOKEN=given-by-the-spec",
    ]
    env = set(outcome.summary["env"])
    assert env <= {
        *("PATH", "LANG", "LC_ALL", "TZ", "LC_CTYPE", "HTTPS_PROXY", "API_TOKEN"),
        *("HOME", "TMPDIR", "PYTHONPATH", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE"),
        *("SANDBOX_RUN_TOKEN", "SANDBOX_RESULT_FILE"),
    }
    assert {"HTTPS_PROXY", "API_TOKEN", "HOME", "SANDBOX_RUN_TOKEN"} <= env
    folder = str((tmp_path / "run").resolve())
    assert outcome.summary["cwd"] == folder and outcome.summary["home"] == folder
    assert (tmp_path / "run" / "tmp").is_dir()


def test_secret_values_are_redacted_from_every_line(tmp_path):
    spec = target("leak", tmp_path, env={"API_TOKEN": "tok-1234567890"}, secrets=["tok-1234567890"])
    outcome, lines, _ = run(spec)
    assert outcome.status == COMPLETED
    assert lines == ["the token is [REDACTED]!"]
    assert outcome.summary == {"length": 14}


def test_remove_workdir_deletes_one_run_folder_and_nothing_outside_its_root(tmp_path):
    root = tmp_path / "runs"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (tmp_path / "outside").mkdir()
    assert remove_workdir(root, "a") is True
    assert remove_workdir(root, "../outside") is False
    assert remove_workdir(root, "missing") is False
    assert not (root / "a").exists()
    assert (root / "b").is_dir() and (tmp_path / "outside").is_dir()


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limits", "limit", "message", "words"),
    [
        (
            "memory_hog",
            Limits(cpu_seconds=10, memory_mb=200, file_size_mb=5, open_files=64),
            "memory",
            "Memory limit exceeded: the process needed more than its 200 MB",
            "holding",
        ),
        (
            "cpu_loop",
            Limits(cpu_seconds=1, memory_mb=200, file_size_mb=5, open_files=64),
            "cpu",
            "CPU time limit exceeded: the process used its 1 s of CPU time",
            "spinning",
        ),
        (
            "file_hog",
            Limits(cpu_seconds=5, memory_mb=200, file_size_mb=1, open_files=64),
            "file_size",
            "File size limit exceeded: the process tried to write a file larger than 1 MB",
            "",
        ),
        (
            "open_files",
            Limits(cpu_seconds=5, memory_mb=200, file_size_mb=1, open_files=32),
            "open_files",
            "Open files limit exceeded: the process tried to have more than 32 files open",
            "",
        ),
    ],
)
def test_each_resource_limit_stops_the_run_and_is_named(
    tmp_path, name, limits, limit, message, words
):
    started = time.monotonic()
    outcome, lines, _ = run(target(name, tmp_path, limits=limits, timeout=30))
    assert (outcome.status, outcome.limit) == (FAILED, limit)
    assert outcome.message.startswith(message)
    assert words in outcome.error  # the last output lines follow the message
    assert "wrote everything" not in lines
    assert time.monotonic() - started < 20
    if name == "file_hog":
        assert (tmp_path / "big.bin").stat().st_size <= 1024 * 1024


def test_the_wall_clock_timeout_kills_a_run_that_waits(tmp_path):
    started = time.monotonic()
    outcome, _, _ = run(target("sleeper", tmp_path, {"seconds": 30}, timeout=1))
    assert (outcome.status, outcome.limit) == (FAILED, "timeout")
    assert outcome.message == "Wall-clock timeout: the process ran longer than 1 s and was killed."
    assert time.monotonic() - started < 10
    pids = [int(pid) for pid in (tmp_path / "pids.txt").read_text().split()]
    assert wait_until(lambda: all(_gone(pid) for pid in pids), timeout=2.0)


def test_a_command_gets_the_same_limits_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "worker-secret-key-value")
    shell = 'ulimit -n; echo "key=${SECRET_KEY:-unset}"; echo \'{"n": 1}\' > "$SANDBOX_RESULT_FILE"'
    spec = SandboxSpec.for_command(
        ["sh", "-c", shell],
        workdir=tmp_path,
        limits=Limits(open_files=48),
        timeout=10,
    )
    outcome, lines, _ = run(spec)
    assert outcome.status == COMPLETED, outcome.error
    assert lines == ["48", "key=unset"]
    assert outcome.summary == {"n": 1}


# -- output, progress and endings ------------------------------------------------------------


def test_stdout_stderr_and_progress_arrive_in_the_order_printed(tmp_path):
    events = []
    outcome = run_sandboxed(
        target("chatter", tmp_path, {"rounds": 3}),
        on_lines=lambda lines: events.extend(("line", line) for line in lines),
        on_progress=lambda percent, message: events.append(("progress", percent, message)),
    )
    assert outcome.status == COMPLETED
    assert outcome.summary == {"rounds": 3}
    assert outcome.lines == 8
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


@pytest.mark.parametrize(
    ("how", "message", "in_tail"),
    [
        ("error", "The process exited with code 1.", "ERROR: the input was bad"),
        ("exit", "The process exited with code 7.", "working 29"),
        ("crash", "The process exited with code 1.", "RuntimeError: unexpected"),
        ("signal", "The process was killed by signal SIGTERM.", "working 29"),
    ],
)
def test_an_exit_status_becomes_a_failed_outcome_with_the_last_lines(
    tmp_path, how, message, in_tail
):
    outcome, lines, _ = run(target("failer", tmp_path, {"how": how}))
    assert (outcome.status, outcome.limit, outcome.message) == (FAILED, None, message)
    assert in_tail in outcome.error
    assert "working 0" in lines and "working 0\n" not in outcome.error  # only the tail
    if how == "error":
        assert "Traceback" not in outcome.error  # ChildError: its message only


def test_the_subject_names_what_ran_in_the_messages(tmp_path):
    spec = target("failer", tmp_path, {"how": "exit"}, subject="the function")
    assert run(spec)[0].message == "The function exited with code 7."


def test_a_summary_that_is_not_an_object_is_wrapped(tmp_path):
    outcome, _, _ = run(target("returns_a_list", tmp_path))
    assert outcome.summary == {"value": [1, 2, 3]}


def test_a_program_that_cannot_start_is_a_setup_failure(tmp_path):
    spec = SandboxSpec.for_command(["no-such-program-anywhere"], workdir=tmp_path, timeout=10)
    outcome, lines, _ = run(spec)
    assert outcome.status == FAILED
    assert outcome.exit_code == 123
    assert outcome.message == "The sandbox could not start the process."
    assert any("cannot run 'no-such-program-anywhere'" in line for line in lines)


def test_specs_name_a_callable_or_a_command(tmp_path):
    with pytest.raises(ValueError):
        SandboxSpec.for_callable("no_colon_here", workdir=tmp_path)
    with pytest.raises(ValueError):
        SandboxSpec.for_command([], workdir=tmp_path)
    with pytest.raises(ValueError):
        SandboxSpec.for_command(["true"], workdir=tmp_path, label="../../elsewhere")


def test_no_process_is_left_behind_after_a_normal_end(tmp_path):
    """Children the run leaves (in its group, or escaped with setsid) are killed at its end."""
    outcome, _, _ = run(target("sleeper", tmp_path, {"seconds": 1}))
    assert outcome.status == COMPLETED, outcome.error
    pids = [int(pid) for pid in (tmp_path / "pids.txt").read_text().split()]
    assert wait_until(lambda: all(_gone(pid) for pid in pids), timeout=2.0)


# -- inside a job ------------------------------------------------------------------------------


@register_kind("tests.sandboxed")
def sandboxed_job(ctx):
    """Runs a target from `core.tests.sandbox_targets` in the sandbox, as an app would."""
    spec = target(ctx.params["target"], Path(ctx.params["workdir"]), ctx.params["payload"])
    outcome = run_in_job(ctx, spec)
    if outcome.status == CANCELLED:
        raise JobCancelled()
    if outcome.status != COMPLETED:
        raise RuntimeError(outcome.error)
    return outcome.summary


def sandboxed(target_name: str, workdir: Path, payload: dict) -> Job:
    return make_job(
        "tests.sandboxed",
        params={"target": target_name, "workdir": str(workdir), "payload": payload},
    )


@pytest.mark.django_db(transaction=True)
def test_in_a_job_lines_go_to_the_log_and_progress_to_the_job(tmp_path):
    job = sandboxed("chatter", tmp_path, {"rounds": 4})
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    lines = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("line", flat=True))
    expected = [line for i in range(1, 5) for line in (f"out {i}", f"err {i}")]
    assert lines == [*expected, "PROGRESS 250 not a progress line", "tail end"]
    assert job.result == {"rounds": 4}
    assert (job.progress, job.phase) == (100, "round 4")


@pytest.mark.django_db(transaction=True)
def test_cancelling_the_job_kills_the_whole_process_tree_within_two_seconds(tmp_path):
    job = sandboxed("sleeper", tmp_path, {"seconds": 60})
    thread = run_in_thread(execute_job, job.pk)
    pids_file = tmp_path / "pids.txt"
    assert wait_until(pids_file.exists, timeout=15)
    assert wait_until(
        lambda: JobLogLine.objects.filter(job=job, line__startswith="sleeping").exists(),
        timeout=10,
    )
    pids = [int(pid) for pid in pids_file.read_text().split()]
    assert all(psutil.pid_exists(pid) for pid in pids)
    started = time.monotonic()
    cancel_job(job.pk)
    assert wait_until(
        lambda: Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED, timeout=2.0, interval=0.02
    )
    assert time.monotonic() - started < 2.0
    thread.join(5)
    assert wait_until(lambda: all(_gone(pid) for pid in pids), timeout=1.0)
    job.refresh_from_db()
    assert job.error == "Cancelled by request."
    assert os.listdir(tmp_path / ".sandbox") == ["run.spec.json"]  # no result of a cancelled run
