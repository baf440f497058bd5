"""A script started over REST runs on a real worker in the sandbox and streams its lines to a
real WebSocket client (uvicorn + Celery + PostgreSQL + Redis)."""

import asyncio
import json
import shutil
import time

import httpx
import pytest
import websockets
from django.conf import settings

from devtools.stack import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "S3cure-pass-phrase!"


def execute(base_url, token, script_name, parameters):
    return httpx.post(
        f"{base_url}/api/scripts/execute",
        json={"script_name": script_name, "parameters": parameters},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


async def watch(ws_url, token, job_id, *, on_event=None, timeout=60):
    events = []
    async with websockets.connect(f"{ws_url}/ws/jobs/?token={token}", max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe_job", "job_id": job_id}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            events.append(event)
            if on_event is not None:
                await on_event(event)
            if event["type"] in ("job_completed", "job_failed"):
                break
    return events


@pytest.fixture
def run_dirs():
    """Run folders the worker creates under its data directory, removed after the test."""
    ids = []
    yield ids
    for job_id in ids:
        shutil.rmtree(settings.DATA_DIR / "script_runs" / job_id, ignore_errors=True)


def test_a_script_run_streams_every_line_and_completes(
    make_user, asgi_server, celery_worker_process, run_dirs
):
    make_user("operator", email="scripts-e2e@example.com")
    token = access_token(asgi_server.base_url, "scripts-e2e@example.com", PASSWORD)
    response = execute(
        asgi_server.base_url,
        token,
        "emit_lines",
        [
            {"name": "lines", "value": 3000, "type": "integer"},
            {"name": "progress_every", "value": 1000, "type": "integer"},
        ],
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    run_dirs.append(job_id)

    events = asyncio.run(watch(asgi_server.ws_url, token, job_id))
    assert events[0]["type"] == "subscribed"
    assert events[-1]["type"] == "job_completed", events[-3:]
    output = [e for e in events if e["type"] == "job_output"]
    assert [e["seq"] for e in output] == list(range(1, len(output) + 1))  # none lost, in order
    script_lines = [e["line"] for e in output if e["line"].startswith("line ")]
    assert script_lines == [f"line {n}" for n in range(1, 3001)]
    progress = [e["progress"] for e in events if e["type"] == "job_progress"]
    assert {33, 66, 100} <= set(progress)
    result = events[-1]["result"]
    assert result["script"] == "emit_lines" and result["summary"]["lines"] == 3000


def test_a_running_script_is_cancelled_over_rest_within_two_seconds(
    make_user, asgi_server, celery_worker_process, run_dirs
):
    make_user("operator", email="scripts-cancel@example.com")
    token = access_token(asgi_server.base_url, "scripts-cancel@example.com", PASSWORD)
    base = asgi_server.base_url
    response = execute(
        base,
        token,
        "emit_lines",
        [{"name": "lines", "value": 100000}, {"name": "interval_ms", "value": 20}],
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    run_dirs.append(job_id)
    timing = {}

    async def cancel_once_running(event):
        if event["type"] == "job_output" and event["line"] == "line 5" and not timing:
            timing["cancelled_at"] = time.monotonic()
            reply = await asyncio.to_thread(
                httpx.post,
                f"{base}/api/jobs/{job_id}/cancel",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert reply.status_code == 202

    events = asyncio.run(watch(asgi_server.ws_url, token, job_id, on_event=cancel_once_running))
    elapsed = time.monotonic() - timing["cancelled_at"]
    assert events[-1]["type"] == "job_failed" and events[-1]["status"] == "cancelled"
    assert elapsed < 2.0
    detail = httpx.get(
        f"{base}/api/jobs/{job_id}/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert detail["status"] == "cancelled"
