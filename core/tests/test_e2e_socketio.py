"""`/socket.io/` with the real python-socketio client against the real stack: uvicorn, a
Celery worker, PostgreSQL and Redis. Jobs are started over REST as a frontend would."""

import asyncio
import time

import engineio.payload
import httpx
import pytest
import socketio
from asgiref.sync import async_to_sync

from core.live.socketio_app import job_room, redis_manager
from devtools.stack import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "S3cure-pass-phrase!"
FINAL = ("job_completed", "job_failed")


class StreamClient:
    """A python-socketio AsyncClient that records every server event in arrival order."""

    def __init__(self):
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue = asyncio.Queue()
        self.seen: list[tuple[str, dict]] = []

        self.refusal = None

        @self.sio.on("*")
        async def record(event, data):
            await self.events.put((event, data))

        @self.sio.event
        async def connect_error(data):
            self.refusal = data

    async def connect(self, base_url, **kwargs):
        await self.sio.connect(base_url, wait_timeout=10, **kwargs)
        return self

    async def until(self, predicate, timeout=60) -> list[tuple[str, dict]]:
        """Events up to and including the first one `predicate(name, data)` accepts."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = await asyncio.wait_for(self.events.get(), max(remaining, 0.01))
            except TimeoutError:
                raise AssertionError(f"timed out; last events: {got[-5:]}") from None
            got.append(event)
            self.seen.append(event)
            if predicate(*event):
                return got

    async def quiet_for(self, seconds) -> list[tuple[str, dict]]:
        """Whatever arrives within `seconds`."""
        got = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                got.append(await asyncio.wait_for(self.events.get(), remaining))
            except TimeoutError:
                break
        return got

    async def close(self):
        if self.sio.transport() == "polling":
            # The Python client's disconnect() would wait for its pending long poll (up to the
            # ping interval); aborting still tells the server, which ends the session at once.
            await self.sio.eio.disconnect(abort=True)
        else:
            await self.sio.disconnect()


def outputs(events, job_id=None):
    return [
        data for name, data in events if name == "job_output" and job_id in (None, data["job_id"])
    ]


def log_in(asgi_server, make_user, email, role="operator"):
    user = make_user(role, email=email)
    return user, access_token(asgi_server.base_url, email, PASSWORD)


def start_echo(asgi_server, token, **params) -> str:
    response = httpx.post(
        f"{asgi_server.base_url}/api/jobs/diagnostics",
        json=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def job_detail(asgi_server, token, job_id) -> dict:
    return httpx.get(
        f"{asgi_server.base_url}/api/jobs/{job_id}/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()


def wait_for_status(asgi_server, token, job_id, statuses, timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = job_detail(asgi_server, token, job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is still {job['status']}")


def test_a_socketio_client_follows_a_job_to_job_completed(
    make_user, asgi_server, celery_worker_process
):
    _, token = log_in(asgi_server, make_user, "sio-follow@example.com")
    # The pause lets the client subscribe before the first line: this run is all live.
    job_id = start_echo(asgi_server, token, lines=500, interval_ms=1, delay_ms=500)

    async def follow():
        client = await StreamClient().connect(asgi_server.base_url, auth={"token": token})
        ack = await client.sio.call("subscribe_job", {"job_id": job_id}, timeout=10)
        events = await client.until(lambda name, data: name in FINAL)
        events += await client.quiet_for(0.5)  # nothing may follow the end
        await client.close()
        return ack, events

    ack, events = async_to_sync(follow)()
    assert ack["job_id"] == job_id and ack["status"] in ("pending", "running")
    assert events[0] == ("subscribed", ack)
    lines = outputs(events)
    assert [line["seq"] for line in lines] == list(range(1, 501))
    assert lines[0]["line"].startswith("line 1 ") and lines[-1]["line"].startswith("line 500 ")
    assert all(line["job_id"] == job_id for line in lines)
    last_progress = [data for name, data in events if name == "job_progress"][-1]
    assert last_progress["job_id"] == job_id
    assert (last_progress["progress"], last_progress["phase"]) == (100, "echo")
    finals = [e for e in events if e[0] in FINAL]
    assert len(finals) == 1 and events[-1] == finals[0]
    assert finals[0][1]["status"] == "completed"
    assert finals[0][1]["result"]["lines"] == 500


def test_a_late_socketio_subscriber_gets_every_stored_line_then_job_completed(
    make_user, asgi_server, celery_worker_process, monkeypatch
):
    # A long poll returns every packet waiting for the client in one payload, and the Python
    # client refuses payloads of more than 16 packets (python-engineio's guard for servers;
    # socket.io-client in browsers has no such limit): this client must accept larger ones.
    monkeypatch.setattr(engineio.payload.Payload, "max_decode_packets", 100_000)
    _, token = log_in(asgi_server, make_user, "sio-late@example.com")
    job_id = start_echo(asgi_server, token, lines=300)
    wait_for_status(asgi_server, token, job_id, {"completed"})

    async def late_join():
        # Long-polling only: the transport of clients that cannot open a WebSocket.
        client = await StreamClient().connect(
            f"{asgi_server.base_url}?token={token}", transports=["polling"]
        )
        await client.sio.emit("subscribe_job", {"job_id": job_id})
        events = await client.until(lambda name, data: name in FINAL)
        events += await client.quiet_for(0.5)
        await client.close()
        return events

    events = async_to_sync(late_join)()
    assert events[0] == ("subscribed", {"job_id": job_id, "status": "completed"})
    assert [line["seq"] for line in outputs(events)] == list(range(1, 301))
    finals = [e for e in events if e[0] in FINAL]
    assert finals == [events[-1]] and finals[0][0] == "job_completed"


def test_a_failed_job_ends_with_job_failed_and_its_error(
    make_user, asgi_server, celery_worker_process
):
    _, token = log_in(asgi_server, make_user, "sio-fail@example.com")
    job_id = start_echo(asgi_server, token, lines=50, fail_at_line=20, delay_ms=300)

    async def follow():
        client = await StreamClient().connect(
            asgi_server.base_url, headers={"Authorization": f"Bearer {token}"}
        )
        await client.sio.emit("subscribe_job", {"job_id": job_id})
        events = await client.until(lambda name, data: name in FINAL)
        await client.close()
        return events

    events = async_to_sync(follow)()
    lines = outputs(events)
    # The engine logs the traceback after the job's own lines.
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert [line["line"].split(" t=")[0] for line in lines[:21]] == [
        *(f"line {n}" for n in range(1, 21)),
        "Job failed:",
    ]
    name, data = events[-1]
    assert name == "job_failed"
    assert data["status"] == "failed" and "failing at line 20" in data["error"]
    assert "Traceback" not in data["error"]


def test_connecting_without_valid_credentials_is_refused(asgi_server):
    async def attempts():
        refusals = []
        for kwargs in (
            {},
            {"auth": {"token": "not-a-token"}},
            {"headers": {"Authorization": "Bearer not-a-token"}},
        ):
            client = StreamClient()
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(asgi_server.base_url, **kwargs)
            assert not client.sio.connected
            refusals.append(client.refusal)
        return refusals

    refusals = async_to_sync(attempts)()
    assert refusals == 3 * [
        {
            "message": "Authentication required: send a valid token or session cookie.",
            "data": {"code": "unauthorized"},
        }
    ]


def test_another_users_job_is_refused_with_an_error_and_no_output(
    make_user, asgi_server, celery_worker_process
):
    _, owner_token = log_in(asgi_server, make_user, "sio-owner@example.com")
    _, stranger_token = log_in(asgi_server, make_user, "sio-stranger@example.com")
    job_id = start_echo(asgi_server, owner_token, lines=200, interval_ms=2)

    async def snoop():
        client = await StreamClient().connect(asgi_server.base_url, auth={"token": stranger_token})
        ack = await client.sio.call("subscribe_job", {"job_id": job_id}, timeout=10)
        events = await client.until(lambda name, data: name == "error")
        events += await client.quiet_for(1.5)  # the job is running meanwhile
        bad = await client.sio.call("subscribe_job", {"job_id": "../../etc"}, timeout=10)
        await client.close()
        return ack, events, bad

    ack, events, bad = async_to_sync(snoop)()
    assert ack == {
        "error": {"code": "forbidden", "message": "You may not watch this job.", "job_id": job_id}
    }
    assert events[0] == ("error", ack["error"])
    assert [name for name, _ in events] == ["error"]
    assert bad["error"]["code"] == "bad_request"
    wait_for_status(asgi_server, owner_token, job_id, {"completed"})


def test_staff_may_follow_any_job_over_a_session_cookie(
    make_user, asgi_server, celery_worker_process, client
):
    _, owner_token = log_in(asgi_server, make_user, "sio-owner2@example.com")
    staff = make_user("viewer", email="sio-staff@example.com", is_staff=True)
    client.force_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    job_id = start_echo(asgi_server, owner_token, lines=20)

    async def follow():
        watcher = await StreamClient().connect(
            asgi_server.base_url, headers={"Cookie": cookie, "Origin": "http://localhost"}
        )
        await watcher.sio.emit("subscribe_job", {"job_id": job_id})
        events = await watcher.until(lambda name, data: name in FINAL)
        await watcher.close()
        return events

    events = async_to_sync(follow)()
    assert [line["seq"] for line in outputs(events)] == list(range(1, 21))
    assert events[-1][0] == "job_completed"


def test_browser_origins_follow_the_websocket_endpoints_rule(make_user, asgi_server):
    _, token = log_in(asgi_server, make_user, "sio-origin@example.com", role="viewer")

    async def attempt(origin):
        client = StreamClient()
        try:
            await client.connect(
                asgi_server.base_url,
                auth={"token": token},
                headers={"Origin": origin},
                transports=["websocket"],
            )
        except socketio.exceptions.ConnectionError:
            return False
        await client.close()
        return True

    assert async_to_sync(attempt)("http://127.0.0.1:3000")  # a host in ALLOWED_HOSTS
    assert not async_to_sync(attempt)("https://evil.example")
    # Long polling: the browser's CORS check gets its answer from the same rule.
    handshake = f"{asgi_server.base_url}/socket.io/?EIO=4&transport=polling"
    allowed = httpx.get(handshake, headers={"Origin": "http://localhost:8080"}, timeout=10)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:8080"
    refused = httpx.get(handshake, headers={"Origin": "https://evil.example"}, timeout=10)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_unsubscribing_stops_the_output(make_user, asgi_server, celery_worker_process):
    _, token = log_in(asgi_server, make_user, "sio-unsub@example.com")
    job_id = start_echo(asgi_server, token, lines=100000, interval_ms=5)

    async def follow_then_leave():
        client = await StreamClient().connect(asgi_server.base_url, auth={"token": token})
        await client.sio.emit("subscribe_job", {"job_id": job_id})
        before = await client.until(
            lambda name, data: name == "job_output" and data["seq"] >= 20, timeout=30
        )
        ack = await client.sio.call("unsubscribe_job", {"job_id": job_id}, timeout=10)
        # Lines already on their way may still land before the confirmation, none after it.
        until_confirmed = await client.until(lambda name, data: name == "unsubscribed")
        after = await client.quiet_for(1.5)
        again = await client.sio.call("unsubscribe_job", {"job_id": job_id}, timeout=10)
        await client.close()
        return before, ack, until_confirmed, after, again

    before, ack, until_confirmed, after, again = async_to_sync(follow_then_leave)()
    try:
        assert ack == {"job_id": job_id}
        assert until_confirmed[-1] == ("unsubscribed", {"job_id": job_id})
        assert after == []
        assert again["error"]["code"] == "bad_request"
        seqs = [line["seq"] for line in outputs(before + until_confirmed)]
        assert seqs == list(range(1, len(seqs) + 1))
        # The job itself runs on: only this client stopped listening.
        assert job_detail(asgi_server, token, job_id)["status"] == "running"
    finally:
        httpx.post(
            f"{asgi_server.base_url}/api/jobs/{job_id}/cancel",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    assert wait_for_status(asgi_server, token, job_id, {"cancelled"})["status"] == "cancelled"


def test_one_client_follows_two_jobs_and_other_processes_reach_its_rooms(
    make_user, asgi_server, celery_worker_process
):
    """Two jobs on one connection stay apart; an emit from this (another) process through the
    Redis manager reaches the client in the job's room."""
    _, token = log_in(asgi_server, make_user, "sio-two@example.com")
    first = start_echo(asgi_server, token, lines=120, interval_ms=1, delay_ms=300)
    second = start_echo(asgi_server, token, lines=80, interval_ms=1, delay_ms=300)

    async def follow_both():
        client = await StreamClient().connect(asgi_server.base_url, auth={"token": token})
        await client.sio.call("subscribe_job", {"job_id": first}, timeout=10)
        await client.sio.call("subscribe_job", {"job_id": second}, timeout=10)
        manager = redis_manager(write_only=True)
        await manager.emit("notice", {"text": "maintenance at noon"}, room=job_room(first))
        finished = set()

        def both_finished(name, data):
            if name in FINAL:
                finished.add(data["job_id"])
            return len(finished) == 2

        events = await client.until(both_finished)
        await client.close()
        return events

    events = async_to_sync(follow_both)()
    assert [line["seq"] for line in outputs(events, first)] == list(range(1, 121))
    assert [line["seq"] for line in outputs(events, second)] == list(range(1, 81))
    assert ("notice", {"text": "maintenance at noon"}) in events
    assert sorted(data["job_id"] for name, data in events if name == "job_completed") == sorted(
        [first, second]
    )
