"""ctx.uninterruptible(): the cancel watchdog waits for the section to end before enforcing
a cancel, then enforces it. Real jobs, run in-process with execute_job in a thread."""

import time

import pytest

from core.models import Job, JobLogLine, JobStatus
from core.services.jobs import JobContext, cancel_job, execute_job
from core.testing.helpers import make_job, register_kind, run_in_thread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = 0.1
#: When the handlers passed their marks (time.monotonic()), by job id.
MARKS: dict[str, dict[str, float]] = {}


def _sleep(seconds: float) -> None:
    # Short sleeps: an exception the watchdog injects lands between two of them.
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)


@register_kind("tests.uninterruptible_section")
def section_job(ctx: JobContext):
    """Sees the cancel inside the section, stays in it well past the grace period, then
    runs on without ever checking the flag: only the watchdog can stop it."""
    marks = MARKS.setdefault(str(ctx.job.pk), {})
    with ctx.uninterruptible():
        ctx.log("in the section")
        assert wait_until(ctx.cancel_requested, timeout=10, interval=0.01)
        marks["cancel_seen"] = time.monotonic()
        _sleep(ctx.params["hold"])
        marks["left"] = time.monotonic()
        ctx.log("left the section")
    _sleep(30)
    ctx.log("never reached")
    return {}


@register_kind("tests.uninterruptible_cleanup")
def cleanup_job(ctx: JobContext):
    """Interrupted by the watchdog outside any section; its clean-up (like rebuilding the
    indexes a bulk load dropped) runs in a section that outlasts the watchdog's last step."""
    marks = MARKS.setdefault(str(ctx.job.pk), {})
    try:
        ctx.log("working")
        _sleep(30)  # never checks the flag
    finally:
        with ctx.uninterruptible():
            marks["cleanup_started"] = time.monotonic()
            _sleep(ctx.params["cleanup"])
            marks["cleanup_done"] = time.monotonic()
            ctx.log("clean-up done")
    return {}


def log_lines(job) -> list[str]:
    return list(JobLogLine.objects.filter(job=job).values_list("line", flat=True))


def test_a_cancel_waits_for_the_uninterruptible_section_then_is_enforced(settings):
    settings.JOB_CANCEL_GRACE_SECONDS = GRACE
    hold = GRACE + 0.5
    job = make_job(kind="tests.uninterruptible_section", params={"hold": hold})
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: "in the section" in log_lines(job), timeout=5)

    cancel_job(job.pk)
    thread.join(10)
    ended = time.monotonic()

    assert not thread.is_alive()
    job.refresh_from_db()
    marks = MARKS[str(job.pk)]
    # The section ran to its end, well past the grace period after the cancel was seen...
    assert marks["left"] - marks["cancel_seen"] >= hold > GRACE
    lines = log_lines(job)
    assert "left the section" in lines
    # ...and the cancel was enforced right after it: the handler never got further.
    assert (job.status, job.error) == (JobStatus.CANCELLED, "Cancelled by request.")
    assert "never reached" not in lines
    assert lines[-1] == "Job cancelled."
    assert ended - marks["left"] < 1.0


def test_a_clean_up_section_is_not_cut_off_by_the_forced_termination(settings):
    # The watchdog interrupts the job GRACE after the cancel, and terminates it (revoking
    # its task) one second later if it still runs: the clean-up outlasts that second.
    settings.JOB_CANCEL_GRACE_SECONDS = GRACE
    job = make_job(kind="tests.uninterruptible_cleanup", params={"cleanup": 1.3})
    thread = run_in_thread(execute_job, job.pk)
    assert wait_until(lambda: "working" in log_lines(job), timeout=5)

    cancel_job(job.pk)
    thread.join(10)

    assert not thread.is_alive()
    job = Job.objects.get(pk=job.pk)
    marks = MARKS[str(job.pk)]
    assert marks["cleanup_done"] - marks["cleanup_started"] >= 1.3
    assert "clean-up done" in log_lines(job)
    # Ended by the interrupt and the handler's own unwinding, not by the forced path.
    assert (job.status, job.error) == (JobStatus.CANCELLED, "Cancelled by request.")
