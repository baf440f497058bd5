"""The whole pipeline with real processes: uvicorn (HTTP + WebSocket), a Celery worker,
PostgreSQL and Redis. A job started over REST streams its lines to a WebSocket client."""

import asyncio
import itertools
import json
import time

import httpx
import pytest
import websockets

from devtools.stack import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "S3cure-pass-phrase!"


async def collect(ws_url, token, job_id, until_types, timeout=60):
    events = []
    async with websockets.connect(f"{ws_url}/ws/jobs/?token={token}") as ws:
        await ws.send(json.dumps({"type": "subscribe_job", "job_id": job_id}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            events.append(event)
            if event["type"] in until_types:
                break
    return events


def test_job_started_over_rest_streams_lines_and_completion_over_websocket(
    make_user, asgi_server, celery_worker_process
):
    make_user("operator", email="e2e@example.com")
    token = access_token(asgi_server.base_url, "e2e@example.com", PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(
        f"{asgi_server.base_url}/api/jobs/diagnostics",
        json={"lines": 500, "interval_ms": 1},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    events = asyncio.run(
        collect(asgi_server.ws_url, token, job_id, {"job_completed", "job_failed"})
    )
    assert events[0]["type"] == "subscribed"
    assert events[-1]["type"] == "job_completed", events[-3:]
    seqs = [e["seq"] for e in events if e["type"] == "job_output"]
    assert seqs == list(range(1, 501))
    lines = [e["line"] for e in events if e["type"] == "job_output"]
    assert lines[0].startswith("line 1 ") and lines[-1].startswith("line 500 ")
    assert any(e["type"] == "job_progress" for e in events)

    detail = httpx.get(
        f"{asgi_server.base_url}/api/jobs/{job_id}/", headers=headers, timeout=10
    ).json()
    assert detail["status"] == "completed"
    assert detail["progress"] == 100
    assert detail["result"]["lines"] == 500
    assert detail["log_line_count"] == 500
    text = httpx.get(
        f"{asgi_server.base_url}/api/jobs/{job_id}/logs", headers=headers, timeout=10
    ).text
    assert len(text.splitlines()) == 500


def test_cancel_over_rest_stops_a_running_job_within_two_seconds(
    make_user, asgi_server, celery_worker_process
):
    make_user("operator", email="cancel@example.com")
    token = access_token(asgi_server.base_url, "cancel@example.com", PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    base = asgi_server.base_url
    job_id = httpx.post(
        f"{base}/api/jobs/diagnostics",
        json={"lines": 100000, "interval_ms": 10},
        headers=headers,
        timeout=10,
    ).json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/api/jobs/{job_id}/", headers=headers, timeout=10).json()
        if job["status"] == "running" and job["log_line_count"] > 0:
            break
        time.sleep(0.1)
    assert job["status"] == "running"

    async def cancel_and_watch():
        async with websockets.connect(f"{asgi_server.ws_url}/ws/jobs/?token={token}") as ws:
            await ws.send(json.dumps({"type": "subscribe_job", "job_id": job_id}))
            started = time.monotonic()
            response = await asyncio.to_thread(
                httpx.post, f"{base}/api/jobs/{job_id}/cancel", headers=headers, timeout=10
            )
            assert response.status_code == 202
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if event["type"] in ("job_failed", "job_completed"):
                    return event, time.monotonic() - started

    event, elapsed = asyncio.run(cancel_and_watch())
    assert event["type"] == "job_failed" and event["status"] == "cancelled"
    assert elapsed < 2.0
    again = httpx.post(f"{base}/api/jobs/{job_id}/cancel", headers=headers, timeout=10)
    assert again.status_code == 409


def test_real_beat_starts_scheduled_jobs_and_skips_ticks_while_one_runs(
    make_user, celery_worker_process, tmp_path, django_db_blocker
):
    """Beat (DatabaseScheduler) ticks every second; each job takes ~2.5 s, so ticks during a
    run are skipped and no two jobs of the schedule ever run at once."""
    import sys
    from datetime import timedelta

    from core.models import Job, JobSchedule, JobStatus
    from core.services.job_schedules import schedule_job
    from devtools.stack import ManagedProcess, child_env

    subject = make_user("operator")
    schedule = schedule_job(
        "diagnostics.echo",
        params={"lines": 2, "delay_ms": 2500},
        subject=subject,
        interval=timedelta(seconds=1),
    )
    beat = ManagedProcess(
        "beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "info",
            "-S",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        child_env(),
        tmp_path / "beat.log",
    )
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            jobs = Job.objects.filter(subject_id=str(subject.pk))
            if jobs.filter(status=JobStatus.COMPLETED).count() >= 2:
                break
            active = jobs.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).count()
            assert active <= 1, "two runs of one schedule overlapped"
            time.sleep(0.2)
    finally:
        beat.stop()
    jobs = list(Job.objects.filter(subject_id=str(subject.pk)).order_by("created_at"))
    assert sum(job.status == JobStatus.COMPLETED for job in jobs) >= 2, beat.output()[-3000:]
    for earlier, later in itertools.pairwise(jobs):
        assert later.created_at >= earlier.finished_at  # never started while one ran
    assert JobSchedule.objects.get(pk=schedule.pk).skipped_ticks >= 1
