"""Jobs survive the loss of their worker, with real Celery workers killed for real.

Each test starts its own workers on a queue of its own (`start_job(..., queue=...)`), so the
session's shared worker never picks up these jobs and is never harmed.
"""

import os
import signal
import time

import pytest

from core.models import Job, JobLogLine, JobStatus
from core.services.jobs import start_job
from core.testing.helpers import wait_until
from devtools.stack import child_env, start_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MARKED_WITHIN_SECONDS = 10


@pytest.fixture
def workers(celery_worker_process, tmp_path, request):
    """`workers(n)` → n fresh prefork workers on a queue of their own (`.queue`)."""
    started = []
    queue = f"loss-{os.getpid()}-{abs(hash(request.node.name)) % 10**6}"

    def start(count=1):
        for number in range(count):
            started.append(
                start_worker(
                    child_env(), tmp_path / f"worker{len(started)}-{number}.log", queues=queue
                )
            )
        return started

    start.queue = queue
    yield start
    for worker in started:
        worker.stop()


def job_pid(job) -> int:
    return int(job.worker.rsplit(" pid ", 1)[1])


def echoed_lines(job) -> list[int]:
    lines = JobLogLine.objects.filter(job=job, line__startswith="line ").values_list(
        "line", flat=True
    )
    return sorted({int(line.split()[1]) for line in lines})


def wait_running_with_output(job, lines=150) -> Job:
    assert wait_until(
        lambda: Job.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, log_line_count__gte=lines
        ).exists(),
        timeout=60,
    ), Job.objects.get(pk=job.pk).status
    return Job.objects.get(pk=job.pk)


def seconds_until_marked(job, started: float) -> float:
    assert wait_until(
        lambda: Job.objects.get(pk=job.pk).interruptions, timeout=30, interval=0.05
    ), "the lost attempt was never noticed"
    return time.monotonic() - started


def test_a_killed_pool_process_is_noticed_at_once_and_the_job_rerun_to_the_end(workers):
    workers(1)
    job = start_job(
        "diagnostics.echo", params={"lines": 1500, "interval_ms": 4}, queue=workers.queue
    )
    running = wait_running_with_output(job)
    killed_at = time.monotonic()
    os.kill(job_pid(running), signal.SIGKILL)

    assert seconds_until_marked(job, killed_at) < MARKED_WITHIN_SECONDS
    interruption = Job.objects.get(pk=job.pk).interruptions[0]
    assert "the worker process died" in interruption["reason"]
    assert interruption["outcome"] == "re-queued"
    assert wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED, timeout=90)
    finished = Job.objects.get(pk=job.pk)
    assert finished.attempts == 2
    assert echoed_lines(finished) == list(range(1, 1501))
    assert JobLogLine.objects.filter(job=job, line__contains="Re-queued").exists()


def test_an_unsafe_job_killed_mid_run_fails_and_is_never_rerun(workers):
    workers(1)
    job = start_job(
        "diagnostics.echo",
        params={"lines": 3000, "interval_ms": 4, "unsafe": True},
        queue=workers.queue,
    )
    running = wait_running_with_output(job)
    killed_at = time.monotonic()
    os.kill(job_pid(running), signal.SIGKILL)

    assert seconds_until_marked(job, killed_at) < MARKED_WITHIN_SECONDS
    failed = Job.objects.get(pk=job.pk)
    assert failed.status == JobStatus.FAILED
    assert "may or may not have happened" in failed.error
    time.sleep(3)  # time enough for a wrongful re-run to start
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_whole_worker_gone_is_found_by_another_worker_within_seconds(workers):
    started = workers(2)
    job = start_job(
        "diagnostics.echo", params={"lines": 2500, "interval_ms": 4}, queue=workers.queue
    )
    running = wait_running_with_output(job)
    (victim,) = [w for w in started if running.worker.startswith(f"{w.node} ")]
    killed_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGKILL)  # main process and pool: no parent left to tell

    assert seconds_until_marked(job, killed_at) < MARKED_WITHIN_SECONDS
    assert "no heartbeat" in Job.objects.get(pk=job.pk).interruptions[0]["reason"]
    assert wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED, timeout=90)
    finished = Job.objects.get(pk=job.pk)
    assert not finished.worker.startswith(f"{victim.node} ")
    assert echoed_lines(finished) == list(range(1, 2501))


def test_sigterm_to_a_worker_requeues_its_job_at_a_safe_point_and_another_finishes_it(workers):
    started = workers(2)
    job = start_job(
        "diagnostics.echo", params={"lines": 2500, "interval_ms": 4}, queue=workers.queue
    )
    running = wait_running_with_output(job)
    (victim,) = [w for w in started if running.worker.startswith(f"{w.node} ")]
    terminated_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGTERM)  # as Heroku does: every process of the dyno

    assert seconds_until_marked(job, terminated_at) < MARKED_WITHIN_SECONDS
    interruption = Job.objects.get(pk=job.pk).interruptions[0]
    assert interruption["stopped_cleanly"] is True, (interruption, victim.output()[-3000:])
    victim.proc.wait(25)  # gone well before a platform's 30 s kill timeout
    assert wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED, timeout=90)
    finished = Job.objects.get(pk=job.pk)
    assert finished.attempts == 2
    assert echoed_lines(finished) == list(range(1, 2501))
    assert JobLogLine.objects.filter(
        job=job, line="Stopping at a safe point: the worker is shutting down."
    ).exists()
