"""`/socket.io/`: the job stream for Socket.IO clients (the seed's Flask-SocketIO protocol).

Client → server: `subscribe_job {job_id}`, `unsubscribe_job {job_id}` (the handler's return
value is the acknowledgement: the `subscribed`/`unsubscribed` payload, or `{"error": ...}`).
Server → client: the events of `core.live.follower`, each named after its type with the rest
as its payload: `job_output {job_id, line, seq}`, `job_progress {job_id, progress, phase,
counters}`, `job_completed {job_id, status, result}`, `job_failed {job_id, status, error}`,
`subscribed`, `unsubscribed`, `error {code, message, job_id?}`.

Live events reach this endpoint the way they reach `/ws/jobs/`: from the job's channel-layer
group, which the job stream publishes once per batch of lines. One `JobEventRelay` per
process listens on one channel, joins a job's group while a local client follows the job and
hands each batch to those clients' followers; nothing is published twice and a batch is
decoded once per process, whatever the number of clients.

The server's client manager is python-socketio's AsyncRedisManager, so emits and room
operations addressed from any process reach clients connected to another. Followers emit to
their own client, which is always connected to this process, without the round trip through
Redis (`ignore_queue`).
"""

from __future__ import annotations

import asyncio
import logging

import socketio
from channels.layers import get_channel_layer
from socketio.exceptions import ConnectionRefusedError as ConnectionRefused

from core.services import live

from .auth import socketio_user
from .follower import JobFollower, SubscriptionRefused, error_event, open_job, parse_job_id
from .origin import is_allowed_browser_origin

logger = logging.getLogger(__name__)

SOCKETIO_PATH = "socket.io"
# Packets waiting in Engine.IO's (unbounded) per-client queue before a follower pauses; the
# follower's own bounded inbox then sheds live batches, recovered from the stored lines.
MAX_QUEUED_PACKETS = 2000


def job_room(job_id) -> str:
    """The Socket.IO room of a job's followers (any process may emit to it)."""
    return f"job:{job_id}"


class JobEventRelay:
    """This process's one listener on the channel layer for Socket.IO followers."""

    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self._layer = get_channel_layer()
        self._channel: str | None = None
        self._followers: dict[str, set[JobFollower]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def add(self, follower: JobFollower) -> None:
        """Route the job's events to `follower`; on return the group is joined, so the
        follower may start reading stored lines."""
        async with self._lock:
            if self._channel is None:
                self._channel = await self._layer.new_channel()
                self._task = self.loop.create_task(self._listen(), name="socketio-job-relay")
            followers = self._followers.setdefault(follower.job_id, set())
            if not followers:
                await self._layer.group_add(live.job_group_name(follower.job_id), self._channel)
            followers.add(follower)

    async def remove(self, follower: JobFollower) -> None:
        async with self._lock:
            followers = self._followers.get(follower.job_id)
            if followers is None or follower not in followers:
                return
            followers.discard(follower)
            if not followers:
                del self._followers[follower.job_id]
                await self._layer.group_discard(live.job_group_name(follower.job_id), self._channel)

    async def _listen(self) -> None:
        while True:
            try:
                event = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Socket.IO job relay: receiving from the channel layer failed")
                await asyncio.sleep(1)
                continue
            for follower in tuple(self._followers.get(event.get("job_id"), ())):
                follower.feed(event)


class JobNamespace(socketio.AsyncNamespace):
    """The default namespace: authentication on connect, then subscribe/unsubscribe."""

    def __init__(self, namespace="/"):
        super().__init__(namespace)
        self._users: dict[str, object] = {}
        self._followers: dict[str, dict[str, JobFollower]] = {}
        self._relay: JobEventRelay | None = None

    def _relay_here(self) -> JobEventRelay:
        # The channel layer keeps one connection per event loop; so does the relay.
        if self._relay is None or self._relay.loop is not asyncio.get_running_loop():
            self._relay = JobEventRelay()
        return self._relay

    async def on_connect(self, sid, environ, auth=None):
        user = await socketio_user(environ, auth)
        if user is None:
            raise ConnectionRefused(
                "Authentication required: send a valid token or session cookie.",
                {"code": "unauthorized"},
            )
        self._users[sid] = user
        self._followers[sid] = {}

    async def on_disconnect(self, sid, reason=None):
        self._users.pop(sid, None)
        for follower in self._followers.pop(sid, {}).values():
            # The manager drops a disconnected client from its rooms by itself.
            await self._stop(sid, follower, leave_room=False)

    async def on_subscribe_job(self, sid, data=None):
        raw_id = data.get("job_id") if isinstance(data, dict) else data
        try:
            job = await open_job(self._users[sid], raw_id)
        except SubscriptionRefused as refused:
            return await self._refuse(sid, refused.event())
        job_id = str(job.pk)
        followers = self._followers[sid]
        if job_id in followers:
            if followers[job_id].running:
                return {"job_id": job_id, "status": job.status}
            await self._stop(sid, followers.pop(job_id))  # it failed: start over
        follower = JobFollower(job, self._sender(sid))
        followers[job_id] = follower
        await self._relay_here().add(follower)
        await self.enter_room(sid, job_room(job_id))
        await follower.start()
        return {"job_id": job_id, "status": job.status}

    async def on_unsubscribe_job(self, sid, data=None):
        raw_id = data.get("job_id") if isinstance(data, dict) else data
        job_id = parse_job_id(raw_id)
        follower = self._followers.get(sid, {}).pop(job_id, None) if job_id else None
        if follower is None:
            return await self._refuse(
                sid, error_event("bad_request", "Not subscribed to that job.", raw_id)
            )
        await self._stop(sid, follower)
        await self._emit_local(sid, {"type": "unsubscribed", "job_id": job_id})
        return {"job_id": job_id}

    async def _stop(self, sid, follower: JobFollower, *, leave_room: bool = True) -> None:
        await self._relay_here().remove(follower)
        await follower.stop()
        if leave_room:
            await self.leave_room(sid, job_room(follower.job_id))

    async def _refuse(self, sid, event: dict) -> dict:
        await self._emit_local(sid, event)
        return {"error": {key: value for key, value in event.items() if key != "type"}}

    def _sender(self, sid):
        async def send(event: dict) -> None:
            await self._wait_for_room_to_send(sid)
            await self._emit_local(sid, event)

        return send

    async def _emit_local(self, sid, event: dict) -> None:
        payload = {key: value for key, value in event.items() if key != "type"}
        await self.emit(event["type"], payload, to=sid, ignore_queue=True)

    async def _wait_for_room_to_send(self, sid) -> None:
        """Pause while the client's Engine.IO queue is long: a slow client must not make the
        server buffer a fast job's whole output in memory."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        socket = self.server.eio.sockets.get(eio_sid) if eio_sid else None
        while (
            socket is not None and not socket.closed and socket.queue.qsize() > MAX_QUEUED_PACKETS
        ):
            await asyncio.sleep(0.02)


def _allowed_origin(origin: str | None, environ=None) -> bool:
    return is_allowed_browser_origin(origin)


def redis_manager(*, write_only: bool = False) -> socketio.AsyncRedisManager:
    """The Socket.IO servers' shared Redis manager; `write_only=True` gives any process
    (a worker, a shell) a way to emit to Socket.IO clients: `await redis_manager(
    write_only=True).emit("event", data, room=job_room(job_id))`."""
    from django.conf import settings

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    options = {}
    if settings.REDIS_USES_TLS:
        options["ssl_cert_reqs"] = settings.REDIS_SSL_CERT_REQS
    return socketio.AsyncRedisManager(
        settings.REDIS_URL,
        channel=f"{prefix}:socketio",
        write_only=write_only,
        redis_options=options,
    )


def build_socketio_server() -> socketio.AsyncServer:
    from django.conf import settings

    server = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=redis_manager(),
        # Browser origins: the WebSocket endpoint's rule (None means the client sent none);
        # cookies across origins only where the API allows them too.
        cors_allowed_origins=_allowed_origin,
        cors_credentials=settings.CORS_ALLOW_CREDENTIALS,
        # One client's events are handled in order, as on the WebSocket; handlers are short
        # (replays run in the followers' own tasks).
        async_handlers=False,
    )
    server.register_namespace(JobNamespace("/"))
    return server


def socketio_asgi_app(other_asgi_app) -> socketio.ASGIApp:
    """Socket.IO at /socket.io/, everything else (HTTP, /ws/...) to `other_asgi_app`."""
    return socketio.ASGIApp(
        build_socketio_server(), other_asgi_app=other_asgi_app, socketio_path=SOCKETIO_PATH
    )
