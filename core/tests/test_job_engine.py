"""The Job lifecycle, exercised in-process through the engine's services."""

import time
from pathlib import Path

import pytest
from django.conf import settings

from core.exceptions import JobStateConflict
from core.models import Job, JobLogLine, JobStatus
from core.services.jobs import (
    JobContext,
    cancel_job,
    execute_job,
    job_finished,
    retry_job,
)
from core.testing.helpers import make_job, register_kind, run_in_thread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@register_kind("tests.sleepy")
def sleepy_job(ctx: JobContext):
    """Checks for cancellation cooperatively while 'working'."""
    for i in range(600):
        ctx.log(f"tick {i}")
        ctx.check_cancelled()
        time.sleep(0.05)
    return {"done": True}


@register_kind("tests.stubborn")
def stubborn_job(ctx: JobContext):
    """Never checks the cancel flag: the watchdog must interrupt it."""
    ctx.log("spinning")
    end = time.monotonic() + 30
    while time.monotonic() < end:
        sum(range(1000))
    return {}


def test_job_succeeds_with_stored_lines_progress_and_result():
    job = make_job(params={"lines": 250})
    finished = []
    job_finished.connect(
        lambda sender, job, **kw: finished.append(job.pk), weak=False, dispatch_uid="t1"
    )
    try:
        execute_job(job.pk)
    finally:
        job_finished.disconnect(dispatch_uid="t1")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.progress == 100
    assert job.result["lines"] == 250
    assert job.attempts == 1
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    assert job.counters["lines_written"] == 250
    seqs = list(JobLogLine.objects.filter(job=job).values_list("seq", flat=True))
    assert seqs == list(range(1, 251))
    assert job.log_line_count == 250
    log_file = Path(settings.JOB_LOG_DIR) / f"{job.pk}.log"
    lines = log_file.read_text().splitlines()
    assert len(lines) == 250 and lines[0].startswith("line 1 ")
    assert finished == [job.pk]


def test_failing_job_records_error_with_traceback_and_keeps_lines():
    job = make_job(params={"lines": 20, "fail_at_line": 5})
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("RuntimeError: failing at line 5 as asked")
    assert "Traceback" in job.error
    stored = list(JobLogLine.objects.filter(job=job).values_list("line", flat=True))
    assert stored[:5] == [line for line in stored[:5] if line.startswith("line ")]
    assert any("Traceback" in line for line in stored)


def test_log_lines_are_visible_while_the_job_runs():
    job = make_job(kind="tests.sleepy")
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: JobLogLine.objects.filter(job=job).count() >= 3, timeout=5)
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    cancel_job(job.pk)
    thread.join(5)


def test_cancel_stops_a_running_job_within_two_seconds():
    job = make_job(kind="tests.sleepy")
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.RUNNING)
    started = time.monotonic()
    cancel_job(job.pk)
    thread.join(5)
    elapsed = time.monotonic() - started
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert elapsed < 2.0
    assert job.finished_at is not None


def test_cancel_interrupts_a_job_that_never_checks_the_flag():
    job = make_job(kind="tests.stubborn")
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.RUNNING)
    started = time.monotonic()
    cancel_job(job.pk)
    thread.join(10)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert time.monotonic() - started < settings.JOB_CANCEL_GRACE_SECONDS + 1.0


def test_cancelling_a_pending_job_cancels_it_at_once_and_it_never_runs():
    job = make_job()
    cancel_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert execute_job(job.pk) is None
    assert JobLogLine.objects.filter(job=job).count() == 0


def test_finished_job_cannot_be_cancelled_again():
    job = make_job(params={"lines": 1})
    execute_job(job.pk)
    with pytest.raises(JobStateConflict):
        cancel_job(job.pk)


def test_retry_runs_the_stored_parameters_in_a_new_job(enqueued_jobs):
    enqueued = enqueued_jobs
    job = make_job(params={"lines": 3, "fail_at_line": 2})
    execute_job(job.pk)
    retried = retry_job(job.pk)
    assert [j.pk for j in enqueued] == [retried.pk]
    assert retried.pk != job.pk
    assert retried.retry_of_id == job.pk
    assert retried.params == job.params
    assert retried.status == JobStatus.PENDING
    execute_job(retried.pk)
    retried.refresh_from_db()
    assert retried.status == JobStatus.FAILED


def test_running_job_cannot_be_retried():
    job = make_job(status=JobStatus.RUNNING)
    with pytest.raises(JobStateConflict):
        retry_job(job.pk)


def test_lines_with_nul_bytes_and_huge_lines_are_stored_safely():
    @register_kind("tests.weird_lines")
    def weird(ctx):
        ctx.log("before\x00after")
        ctx.log("x" * 50_000)
        ctx.log("tab\there back\\slash inner\nnewline \\N é€ 😀")

    job = make_job(kind="tests.weird_lines")
    execute_job(job.pk)
    lines = list(JobLogLine.objects.filter(job=job).values_list("line", flat=True))
    assert lines[0] == "before\ufffdafter"
    assert len(lines[1]) < 11_000 and lines[1].endswith("[truncated]")
    assert lines[2] == "tab\there back\\slash inner\nnewline \\N é€ 😀"
