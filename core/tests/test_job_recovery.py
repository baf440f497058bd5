"""Jobs whose attempt ended without finishing: re-queued where safe, failed otherwise;
stopping at a safe point for a worker shutdown; attempts fenced; checkpoints."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import Job, JobLogLine, JobStatus
from core.services.job_recovery import (
    CANCELLED,
    FAILED,
    REQUEUED,
    find_lost_jobs,
    handle_interrupted_job,
    request_stop_for_worker,
)
from core.services.jobs import JobContext, execute_job, start_job
from core.testing.helpers import make_job, register_kind, run_in_thread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@register_kind("tests.sends_mail")
def sends_mail(ctx: JobContext):
    return {}


@register_kind("tests.idempotent_sync", rerun_on_worker_lost=True, max_attempts=2)
def idempotent_sync(ctx: JobContext):
    return {}


def running(kind="diagnostics.echo", **fields):
    values = {
        "status": JobStatus.RUNNING,
        "attempts": 1,
        "phase": "writing",
        "worker": "w1 pid 9",
        "heartbeat_at": timezone.now(),
    }
    return make_job(kind=kind, **{**values, **fields})


def lines_of(job):
    return list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("line", flat=True))


def test_a_kind_safe_to_rerun_is_requeued_with_the_reason_recorded(enqueued_jobs):
    job = running()
    old_task = job.celery_task_id
    assert handle_interrupted_job(job.pk, reason="the worker process died") == REQUEUED
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.celery_task_id != old_task
    assert [j.pk for j in enqueued_jobs] == [job.pk]
    (record,) = job.interruptions
    assert (record["attempt"], record["phase"], record["outcome"]) == (1, "writing", REQUEUED)
    assert lines_of(job) == [
        "Attempt 1 of 3: worker lost during writing (the worker process died). "
        "Re-queued: the next attempt resumes from the start."
    ]


def test_a_kind_with_outside_effects_is_failed_with_the_next_step(enqueued_jobs):
    job = running(kind="tests.sends_mail")
    assert handle_interrupted_job(job.pk, reason="signal 9") == FAILED
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert job.error == (
        "Attempt 1: worker lost during writing (signal 9); "
        "this kind of job is not re-run automatically."
    )
    assert lines_of(job)[1].startswith("Check what it did")
    assert enqueued_jobs == []


def test_a_job_lost_inside_an_unsafe_section_is_never_rerun(enqueued_jobs):
    job = running(unsafe_section="placing the supplier order")
    assert handle_interrupted_job(job.pk, reason="signal 9") == FAILED
    job.refresh_from_db()
    assert "while placing the supplier order: that may or may not have happened" in job.error
    assert enqueued_jobs == []


def test_the_attempt_budget_ends_in_failure():
    job = running(kind="tests.idempotent_sync", attempts=2)
    assert handle_interrupted_job(job.pk, reason="OOM") == FAILED
    job.refresh_from_db()
    assert "giving up after 2 attempts" in job.error


def test_a_job_being_cancelled_ends_cancelled():
    job = running(cancel_requested=True)
    assert handle_interrupted_job(job.pk, reason="signal 9") == CANCELLED
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_an_attempt_already_replaced_or_a_finished_job_is_left_alone():
    job = running(attempts=2)
    assert handle_interrupted_job(job.pk, attempt=1, reason="late signal") is None
    done = make_job(status=JobStatus.COMPLETED)
    assert handle_interrupted_job(done.pk, reason="late signal") is None
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_only_jobs_whose_heartbeat_stopped_are_found_lost(settings, enqueued_jobs):
    settings.JOB_LOST_AFTER_SECONDS = 5
    silent = running(heartbeat_at=timezone.now() - timedelta(seconds=6))
    alive = running(heartbeat_at=timezone.now() - timedelta(seconds=3))
    assert find_lost_jobs() == 1
    assert Job.objects.get(pk=silent.pk).status == JobStatus.PENDING
    assert (
        "no heartbeat from w1 pid 9 for 6 s"
        in Job.objects.get(pk=silent.pk).interruptions[0]["reason"]
    )
    assert Job.objects.get(pk=alive.pk).status == JobStatus.RUNNING


def test_a_running_job_keeps_its_heartbeat_fresh(settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.3
    job = make_job(params={"lines": 40, "interval_ms": 50})
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.RUNNING)
    time.sleep(1.0)
    beat = Job.objects.get(pk=job.pk).heartbeat_at
    assert beat is not None and (timezone.now() - beat).total_seconds() < 0.8
    thread.join(10)


def test_a_worker_shutting_down_stops_its_job_at_a_safe_point_and_it_resumes(enqueued_jobs):
    job = make_job(params={"lines": 400, "interval_ms": 5})
    thread = run_in_thread(lambda: execute_job(job.pk, worker="worker-a@host"))
    assert wait_until(lambda: Job.objects.get(pk=job.pk).checkpoint.get("line", 0) >= 100)
    assert request_stop_for_worker("worker-a@host") == 1
    thread.join(10)
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING, job.error
    assert job.interruptions[0]["stopped_cleanly"] is True
    stopped_at = job.checkpoint["line"]
    assert "Stopping at a safe point: the worker is shutting down." in lines_of(job)

    finished = execute_job(job.pk, worker="worker-b@host")
    assert finished.status == JobStatus.COMPLETED
    assert finished.attempts == 2 and finished.worker.startswith("worker-b@host pid ")
    lines = lines_of(finished)
    assert f"resuming after line {stopped_at} (attempt 2)" in lines
    echoed = [int(line.split()[1]) for line in lines if line.startswith("line ")]
    assert set(echoed) == set(range(1, 401))  # every line; at most one checkpoint's worth twice
    assert len(echoed) - 400 < 100


def test_a_stop_request_for_another_worker_changes_nothing():
    job = running(worker="worker-b@host pid 7")
    assert request_stop_for_worker("worker-a@host") == 0
    assert Job.objects.get(pk=job.pk).stop_requested is False


def test_an_attempt_declared_lost_stops_and_never_overwrites_its_successor(enqueued_jobs):
    job = make_job(params={"lines": 300, "interval_ms": 10})
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: Job.objects.get(pk=job.pk).log_line_count >= 20)
    # Another worker thought this one was dead, re-queued and started attempt 2.
    handle_interrupted_job(job.pk, reason="no heartbeat (simulated)")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=2, phase="attempt 2")
    thread.join(10)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.phase) == (JobStatus.RUNNING, 2, "attempt 2")


@register_kind("tests.checkpoint_in_transaction")
def checkpoint_in_transaction(ctx: JobContext):
    with transaction.atomic():
        ctx.save_checkpoint({"applied": True})
        if ctx.params.get("roll_back"):
            transaction.set_rollback(True)
    return {"checkpoint": ctx.checkpoint}


def test_a_checkpoint_commits_or_rolls_back_with_the_work_it_describes():
    kept = execute_job(make_job(kind="tests.checkpoint_in_transaction").pk)
    assert kept.checkpoint == {"applied": True}
    dropped = execute_job(
        make_job(kind="tests.checkpoint_in_transaction", params={"roll_back": True}).pk
    )
    assert dropped.checkpoint == {}


def test_an_unsafe_section_is_visible_while_it_runs():
    job = make_job(params={"lines": 200, "interval_ms": 10, "unsafe": True})
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: Job.objects.get(pk=job.pk).log_line_count >= 5)
    assert Job.objects.get(pk=job.pk).unsafe_section.startswith("echoing")
    thread.join(15)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.unsafe_section == ""


def test_start_job_may_route_a_job_to_another_queue(enqueued_jobs):
    job = start_job("diagnostics.echo", queue="large")
    assert job.queue == "large"
