"""The /ws/jobs/ consumer and the job follower it shares with Socket.IO: auth, subscribe, late
join without gaps or duplicates, slow clients, a final event exactly once."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from config.asgi import application
from core.live.follower import BACKFILL_CHUNK, MAX_PENDING_EVENTS, JobFollower
from core.live.origin import is_allowed_browser_origin
from core.models import Job, JobLogLine, JobStatus
from core.services import live
from core.testing.helpers import make_job

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


def test_origins_listed_for_cors_may_open_streams_too(make_user, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    user = make_user("viewer")

    async def scenario():
        token = await sync_to_async(token_for)(user)
        results = {}
        for origin in ("https://app.example.com", "http://app.example.com", "https://x.example"):
            ws, connected, _ = await connect(
                f"/ws/jobs/?token={token}", headers=[(b"origin", origin.encode())]
            )
            results[origin] = connected
            if connected:
                await ws.disconnect()
        return results

    assert async_to_sync(scenario)() == {
        "https://app.example.com": True,
        "http://app.example.com": False,  # the listed origin is exact: scheme and port too
        "https://x.example": False,
    }
    assert is_allowed_browser_origin("https://app.example.com")
    assert is_allowed_browser_origin("http://localhost:5173")  # ALLOWED_HOSTS: any port
    assert not is_allowed_browser_origin("null")
    assert is_allowed_browser_origin(None)  # not a browser: must bring a token


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


# -- the shared follower (core.live.follower), driven directly: both endpoints use it ----------


async def _wait_for(predicate, timeout=10):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_follower_that_falls_behind_gets_the_dropped_batches_from_the_stored_lines(make_user):
    user = make_user("operator")
    job = make_job(owner=user, status=JobStatus.RUNNING)
    store_lines(job, 1, 1)
    batches = 3 * MAX_PENDING_EVENTS

    async def scenario():
        sent, stalled, released = [], asyncio.Event(), asyncio.Event()

        async def slow_client(event):
            if event.get("seq") == 1:  # the client stops reading at the first line
                stalled.set()
                await released.wait()
            sent.append(event)

        follower = JobFollower(await sync_to_async(Job.objects.get)(pk=job.pk), slow_client)
        await follower.start()
        await stalled.wait()
        # Meanwhile the job writes and publishes far more than may wait for this client.
        await sync_to_async(store_lines)(job, 2, 2 * batches + 1)
        for n in range(batches):
            first = 2 + 2 * n
            follower.feed(
                {
                    "type": live.OUTPUT,
                    "job_id": str(job.pk),
                    "lines": [[first, f"line {first}"], [first + 1, f"line {first + 1}"]],
                }
            )
            follower.feed(
                {"type": live.PROGRESS, "job_id": str(job.pk), "progress": n, "phase": "p"}
            )
        follower.feed({"type": live.COMPLETED, "job_id": str(job.pk), "status": "completed"})
        released.set()
        await _wait_for(lambda: sent and sent[-1]["type"] == "job_completed")
        await asyncio.sleep(0.2)
        await follower.stop()
        return sent

    sent = async_to_sync(scenario)()
    assert [e["seq"] for e in sent if e["type"] == "job_output"] == list(range(1, 2 * batches + 2))
    progress = [e["progress"] for e in sent if e["type"] == "job_progress"]
    assert progress == sorted(progress) and progress[-1] == batches - 1
    assert [e["type"] for e in sent].count("job_completed") == 1
    assert sent[-1]["type"] == "job_completed"


def test_a_finished_job_announced_again_live_ends_only_once(make_user):
    user = make_user("operator")
    job = make_job(owner=user, status=JobStatus.CANCELLED, error="Cancelled by the user.")
    store_lines(job, 1, 4)

    async def scenario():
        sent = []

        async def client(event):
            sent.append(event)

        follower = JobFollower(await sync_to_async(Job.objects.get)(pk=job.pk), client)
        # The final publication raced the subscription: it arrives after the replay saw the
        # job finished.
        follower.feed(
            {
                "type": live.FAILED,
                "job_id": str(job.pk),
                "status": "cancelled",
                "error": "Cancelled by the user.",
            }
        )
        await follower.start()
        await _wait_for(lambda: any(e["type"] == "job_failed" for e in sent))
        await asyncio.sleep(0.2)
        await follower.stop()
        return sent

    sent = async_to_sync(scenario)()
    assert [e["type"] for e in sent] == [
        "subscribed",
        *["job_output"] * 4,
        "job_progress",
        "job_failed",
    ]
    assert sent[-1] == {
        "type": "job_failed",
        "job_id": str(job.pk),
        "status": "cancelled",
        "error": "Cancelled by the user.",
    }


def test_unsubscribing_during_a_long_replay_stops_it_and_a_new_subscribe_starts_over(make_user):
    user = make_user("operator")
    job = make_job(owner=user, status=JobStatus.RUNNING)
    store_lines(job, 1, 2 * BACKFILL_CHUNK)

    async def scenario():
        ws, _, _ = await connect(f"/ws/jobs/?token={token_for(user)}")
        await ws.send_json_to({"type": "subscribe_job", "job_id": str(job.pk)})
        await ws.send_json_to({"type": "unsubscribe_job", "job_id": str(job.pk)})
        first = await receive_until(ws, lambda e: e["type"] == "unsubscribed")
        assert await ws.receive_nothing(timeout=0.5)
        await ws.send_json_to({"type": "subscribe_job", "job_id": str(job.pk)})
        second = await receive_until(ws, lambda e: e["type"] == "job_progress", timeout=30)
        await ws.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()
    assert first[0]["type"] == "subscribed"
    assert len(outputs(first)) < 2 * BACKFILL_CHUNK  # the replay was cut short
    assert outputs(first) == list(range(1, len(outputs(first)) + 1))
    assert second[0]["type"] == "subscribed"
    assert outputs(second) == list(range(1, 2 * BACKFILL_CHUNK + 1))
