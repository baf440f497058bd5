"""Flower, started as the Procfile's `flower` process, watches the real test worker: it refuses
requests without its basic-auth credentials and shows the worker and the tasks it runs."""

import subprocess
import sys
import time

import httpx
import pytest

from core.jobs import ECHO
from core.models import Job, JobStatus
from core.services.jobs import start_job
from devtools.stack import FLOWER_CONFIG, ROOT, child_env, start_flower

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CREDENTIALS = ("ops", "flower-test-password")


@pytest.fixture(scope="module")
def flower(celery_worker_process, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        env = child_env()
    process = start_flower(
        env, tmp_path_factory.mktemp("flower") / "flower.log", basic_auth=":".join(CREDENTIALS)
    )
    yield process
    process.stop()


def poll(fetch, accept, timeout: float = 30.0):
    """Call `fetch()` until `accept(value)` holds; return the last value either way."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not accept(value) and time.monotonic() < deadline:
        time.sleep(0.3)
        value = fetch()
    return value


def test_flower_answers_only_with_its_basic_auth_credentials(flower):
    assert httpx.get(f"{flower.base_url}/", timeout=10).status_code == 401
    wrong = httpx.get(f"{flower.base_url}/", auth=("ops", "guess"), timeout=10)
    assert wrong.status_code == 401
    assert httpx.get(f"{flower.base_url}/api/workers", timeout=10).status_code == 401

    assert httpx.get(f"{flower.base_url}/", auth=CREDENTIALS, timeout=10).status_code == 200


def test_flower_lists_the_worker_and_the_task_it_ran(flower, celery_worker_process):
    def workers():
        response = httpx.get(
            f"{flower.base_url}/api/workers", params={"refresh": 1}, auth=CREDENTIALS, timeout=15
        )
        assert response.status_code == 200, response.text
        return response.json()

    names = poll(workers, lambda found: bool(found))
    assert len(names) == 1, names
    worker_name = next(iter(names))
    assert worker_name.startswith("w")  # the test worker's node name (devtools.stack)

    job = start_job(ECHO, params={"lines": 3, "interval_ms": 1}, title="Seen by Flower")

    def tasks():
        response = httpx.get(f"{flower.base_url}/api/tasks", auth=CREDENTIALS, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    listed = poll(tasks, lambda found: found.get(job.celery_task_id, {}).get("state") == "SUCCESS")
    task = listed.get(job.celery_task_id)
    assert task is not None, f"task {job.celery_task_id} not in Flower's list: {sorted(listed)}"
    assert task["name"] == "core.tasks.run_job"
    assert task["state"] == "SUCCESS"
    assert task["worker"] == worker_name
    assert str(job.pk) in task["args"]
    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED


@pytest.mark.parametrize("basic_auth", [None, "", "ops", "ops:", ":secret"])
def test_the_procfile_flower_process_refuses_to_start_without_credentials(
    basic_auth, django_db_blocker
):
    with django_db_blocker.unblock():
        env = child_env()
    env.pop("FLOWER_BASIC_AUTH", None)
    if basic_auth is not None:
        env["FLOWER_BASIC_AUTH"] = basic_auth
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "flower", f"--conf={FLOWER_CONFIG}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "FLOWER_BASIC_AUTH must be set to user:password" in result.stderr
