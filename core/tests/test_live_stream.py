"""The /ws/jobs/ consumer: auth, subscribe, late join without gaps or duplicates."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from config.asgi import application
from core.models import Job, JobLogLine, JobStatus
from core.services import live

from .helpers import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def store_lines(job, first, last):
    now = timezone.now()
    JobLogLine.objects.bulk_create(
        [
            JobLogLine(job=job, seq=i, line=f"line {i}", created_at=now)
            for i in range(first, last + 1)
        ]
    )


async def receive_until(communicator, predicate, timeout=5):
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        events.append(event)
        if predicate(event):
            return events


def outputs(events):
    return [e["seq"] for e in events if e["type"] == "job_output"]


async def connect(path, **kwargs):
    communicator = WebsocketCommunicator(application, path, **kwargs)
    connected, subprotocol = await communicator.connect(timeout=5)
    return communicator, connected, subprotocol


def test_late_subscriber_gets_stored_then_live_lines_once_and_in_order(make_user):
    user = make_user("operator")
    job = make_job(owner=user, status=JobStatus.RUNNING)
    store_lines(job, 1, 5)

    async def scenario():
        ws, connected, _ = await connect(f"/ws/jobs/?token={token_for(user)}")
        assert connected
        await ws.send_json_to({"type": "subscribe_job", "job_id": str(job.pk)})
        events = await receive_until(ws, lambda e: e["type"] == "job_progress")
        assert events[0] == {"type": "subscribed", "job_id": str(job.pk), "status": "running"}
        assert outputs(events) == [1, 2, 3, 4, 5]
        assert events[1] == {
            "type": "job_output",
            "job_id": str(job.pk),
            "line": "line 1",
            "seq": 1,
        }
        # A live batch overlapping what was already sent: only the new lines go out.
        await sync_to_async(store_lines)(job, 6, 8)
        await sync_to_async(live.publish_job_event)(
            job.pk,
            {
                "type": live.OUTPUT,
                "job_id": str(job.pk),
                "lines": [[i, f"line {i}"] for i in range(4, 9)],
            },
        )
        events = await receive_until(ws, lambda e: e.get("seq") == 8)
        assert outputs(events) == [6, 7, 8]
        # A live batch after a gap: the missing lines come from the database first.
        await sync_to_async(store_lines)(job, 9, 13)
        await sync_to_async(live.publish_job_event)(
            job.pk,
            {
                "type": live.OUTPUT,
                "job_id": str(job.pk),
                "lines": [[12, "line 12"], [13, "line 13"]],
            },
        )
        events = await receive_until(ws, lambda e: e.get("seq") == 13)
        assert outputs(events) == [9, 10, 11, 12, 13]
        await sync_to_async(Job.objects.filter(pk=job.pk).update)(status=JobStatus.COMPLETED)
        await sync_to_async(live.publish_job_event)(
            job.pk,
            {
                "type": live.COMPLETED,
                "job_id": str(job.pk),
                "status": "completed",
                "result": {"ok": True},
            },
        )
        events = await receive_until(ws, lambda e: e["type"] == "job_completed")
        assert events[-1]["result"] == {"ok": True}
        await ws.disconnect()

    async_to_sync(scenario)()


def test_subscribing_to_a_finished_job_replays_lines_then_the_final_event(make_user):
    user = make_user("viewer")
    job = make_job(owner=user, status=JobStatus.FAILED, error="Boom: it broke\n\ntraceback")
    store_lines(job, 1, 3)

    async def scenario():
        ws, connected, _ = await connect(f"/ws/jobs/?token={token_for(user)}")
        assert connected
        await ws.send_json_to({"type": "subscribe_job", "job_id": str(job.pk)})
        events = await receive_until(ws, lambda e: e["type"] == "job_failed")
        assert outputs(events) == [1, 2, 3]
        assert events[-1] == {
            "type": "job_failed",
            "job_id": str(job.pk),
            "status": "failed",
            "error": "Boom: it broke",
        }
        await ws.disconnect()

    async_to_sync(scenario)()


def test_another_users_job_gets_an_error_event_and_no_data(make_user):
    owner = make_user("operator")
    stranger = make_user("operator")
    job = make_job(owner=owner, status=JobStatus.RUNNING)
    store_lines(job, 1, 3)

    async def scenario():
        ws, connected, _ = await connect(f"/ws/jobs/?token={token_for(stranger)}")
        assert connected
        await ws.send_json_to({"type": "subscribe_job", "job_id": str(job.pk)})
        event = await ws.receive_json_from(timeout=5)
        assert event["type"] == "error" and event["code"] == "forbidden"
        await sync_to_async(live.publish_job_event)(
            job.pk, {"type": live.OUTPUT, "job_id": str(job.pk), "lines": [[4, "secret"]]}
        )
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_staff_may_watch_any_job(make_user):
    owner = make_user("operator")
    staff = make_user("viewer", is_staff=True)
    job = make_job(owner=owner, status=JobStatus.RUNNING)

    async def scenario():
        ws, connected, _ = await connect(f"/ws/jobs/?token={token_for(staff)}")
        assert connected
        await ws.send_json_to({"type": "subscribe_job", "job_id": str(job.pk)})
        event = await ws.receive_json_from(timeout=5)
        assert event["type"] == "subscribed"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_unauthenticated_connections_are_refused():
    async def scenario():
        _, connected, _ = await connect("/ws/jobs/")
        assert not connected
        _, connected, _ = await connect("/ws/jobs/?token=not-a-token")
        assert not connected

    async_to_sync(scenario)()


def test_token_in_the_subprotocol_header_is_accepted(make_user):
    user = make_user("viewer")

    async def scenario():
        ws, connected, subprotocol = await connect(
            "/ws/jobs/", subprotocols=["bearer", token_for(user)]
        )
        assert connected
        assert subprotocol == "bearer"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_session_cookie_authenticates_and_foreign_origins_are_refused(make_user, client):
    user = make_user("viewer")
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        ws, connected, _ = await connect(
            "/ws/jobs/", headers=[(b"cookie", cookie), (b"origin", b"http://localhost")]
        )
        assert connected
        await ws.disconnect()
        _, connected, _ = await connect(
            "/ws/jobs/", headers=[(b"cookie", cookie), (b"origin", b"https://evil.example")]
        )
        assert not connected

    async_to_sync(scenario)()


def test_bad_messages_get_error_events(make_user):
    user = make_user("viewer")

    async def scenario():
        ws, _, _ = await connect(f"/ws/jobs/?token={token_for(user)}")
        await ws.send_to(text_data="{not json")
        assert (await ws.receive_json_from(timeout=5))["code"] == "bad_request"
        await ws.send_json_to({"type": "subscribe_job", "job_id": "../../etc"})
        assert (await ws.receive_json_from(timeout=5))["code"] == "bad_request"
        await ws.send_json_to({"type": "dance"})
        assert (await ws.receive_json_from(timeout=5))["code"] == "bad_request"
        await ws.send_json_to(
            {"type": "subscribe_job", "job_id": "00000000-0000-0000-0000-000000000000"}
        )
        assert (await ws.receive_json_from(timeout=5))["code"] == "not_found"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_running_job_streams_its_lines_and_completion(make_user):
    """The engine and the consumer together: every line once, in order, then completion."""
    from core.services.jobs import execute_job

    user = make_user("operator")
    job = make_job(owner=user, params={"lines": 3000})

    async def scenario():
        ws, _, _ = await connect(f"/ws/jobs/?token={token_for(user)}")
        await ws.send_json_to({"type": "subscribe_job", "job_id": str(job.pk)})
        await ws.receive_json_from(timeout=5)
        task = asyncio.get_running_loop().run_in_executor(None, _execute, job.pk)
        events = await receive_until(
            ws, lambda e: e["type"] in ("job_completed", "job_failed"), timeout=30
        )
        await task
        assert events[-1]["type"] == "job_completed"
        assert outputs(events) == list(range(1, 3001))
        assert any(e["type"] == "job_progress" and e["progress"] == 100 for e in events)
        await ws.disconnect()

    def _execute(job_id):
        from django.db import connection

        try:
            execute_job(job_id)
        finally:
            connection.close()

    async_to_sync(scenario)()
