"""A script run whose worker process is killed: reported at once, nothing of it left running,
and (emit_lines being safe to repeat) run again to the end."""

import os
import signal
import time

import psutil
import pytest

from core.models import Job, JobStatus
from core.services.sandbox import JOB_ID_VAR
from core.testing.helpers import wait_until
from scripts_runner.services.runs import start_script_run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sandboxed_processes(job_id) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(JOB_ID_VAR) == str(job_id):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def test_a_killed_worker_takes_its_sandboxed_script_along_and_the_run_is_repeated(
    celery_worker_process, make_user
):
    job = start_script_run(
        "emit_lines", {"lines": 400, "interval_ms": 10}, owner=make_user("operator")
    )
    assert wait_until(
        lambda: Job.objects.filter(pk=job.pk, log_line_count__gte=50).exists(), timeout=60
    )
    children = sandboxed_processes(job.pk)
    assert children, "the script's sandboxed process was not found"
    worker_pid = int(Job.objects.get(pk=job.pk).worker.rsplit(" pid ", 1)[1])
    killed_at = time.monotonic()
    os.kill(worker_pid, signal.SIGKILL)

    assert wait_until(lambda: Job.objects.get(pk=job.pk).interruptions, timeout=30)
    assert time.monotonic() - killed_at < 10
    assert wait_until(lambda: not any(p.is_running() for p in children), timeout=10)
    assert wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED, timeout=90)
    finished = Job.objects.get(pk=job.pk)
    assert finished.attempts == 2
    assert finished.interruptions[0]["outcome"] == "re-queued"
    assert wait_until(lambda: not sandboxed_processes(job.pk), timeout=10)
