"""Flower, started as the Procfile's `flower` process, watches the real test worker: it refuses
requests without its basic-auth credentials and shows the worker and the tasks it runs."""

import os
import stat
import subprocess
import sys
import time

import httpx
import pytest

from core.jobs import ECHO
from core.models import Job, JobStatus
from core.services.jobs import start_job
from devtools import run as dev_run
from devtools.stack import FLOWER_CONFIG, ROOT, ManagedProcess, child_env, free_port, start_flower

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


def test_dev_run_flower_serves_on_localhost_behind_a_generated_password(
    django_db_blocker, tmp_path, monkeypatch
):
    monkeypatch.setattr(dev_run, "FLOWER_PASSWORD_FILE", tmp_path / "flower_password")
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    where = dev_run._ensure_flower_credentials()
    password = (tmp_path / "flower_password").read_text().strip()
    assert os.environ["FLOWER_BASIC_AUTH"] == f"flower:{password}" and len(password) >= 24
    assert stat.S_IMODE((tmp_path / "flower_password").stat().st_mode) == 0o600
    assert "flower_password" in where and password not in where
    assert dev_run._ensure_flower_credentials() == "credentials from FLOWER_BASIC_AUTH"

    port = free_port()
    command = dev_run.processes(8000, flower_port=port)["flower"]
    assert "flower" not in dev_run.processes(8000)
    with django_db_blocker.unblock():
        env = child_env()
    # The command as honcho runs it (through the shell), with the environment dev.py gives.
    flower = ManagedProcess("flower", ["sh", "-c", command], env, tmp_path / "flower.log")
    try:
        url = f"http://127.0.0.1:{port}"
        flower.wait_for(lambda: _answers(f"{url}/healthcheck"), 60, "flower")
        assert httpx.get(f"{url}/", timeout=10).status_code == 401
        assert httpx.get(f"{url}/", auth=("flower", password), timeout=10).status_code == 200
    finally:
        flower.stop()


def test_dev_run_refuses_unknown_options():
    assert dev_run.run(["--flowers"]) == 2


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
