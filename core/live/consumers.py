"""`/ws/jobs/`: live log and progress of jobs.

Client → server: `{"type": "subscribe_job", "job_id": ...}`, `{"type": "unsubscribe_job", ...}`.
Server → client: `job_output {job_id, line, seq}`, `job_progress {job_id, progress, phase,
counters}`, `job_completed {job_id, status, result}`, `job_failed {job_id, status, error}`
(status `failed` or `cancelled`), `subscribed {job_id, status}`, `unsubscribed {job_id}`,
`error {code, message, job_id?}`.

Who may follow a job and what a follower is sent (stored lines first, then live ones, each
once and in order) is `core.live.follower`, shared with the Socket.IO endpoint; this consumer
only carries it over a Channels WebSocket.
"""

import asyncio

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.services import live

from .follower import JobFollower, SubscriptionRefused, error_event, open_job, parse_job_id


class JobStreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.followers: dict[str, JobFollower] = {}
        # Followers send from their own tasks; one frame at a time on the socket.
        self._send_lock = asyncio.Lock()
        await self.accept(subprotocol=self.scope.get("accepted_subprotocol"))

    async def disconnect(self, code):
        for job_id in list(getattr(self, "followers", {})):
            await self._stop_following(job_id)

    async def send_json(self, content, close=False):
        async with self._send_lock:
            await super().send_json(content, close=close)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self._error("bad_request", "Messages must be JSON objects.")
            return
        kind = content.get("type")
        if kind == "subscribe_job":
            await self._subscribe(content.get("job_id"))
        elif kind == "unsubscribe_job":
            await self._unsubscribe(content.get("job_id"))
        else:
            await self._error(
                "bad_request", "Unknown message type; expected subscribe_job or unsubscribe_job."
            )

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:
            await self._error("bad_request", "Malformed JSON.")

    # -- subscription ---------------------------------------------------------------------
    async def _subscribe(self, raw_id):
        try:
            job = await open_job(self.scope["user"], raw_id)
        except SubscriptionRefused as refused:
            await self.send_json(refused.event())
            return
        job_id = str(job.pk)
        if job_id in self.followers and self.followers[job_id].running:
            return
        follower = JobFollower(job, self.send_json)
        self.followers[job_id] = follower
        await self.channel_layer.group_add(live.job_group_name(job_id), self.channel_name)
        await follower.start()

    async def _unsubscribe(self, raw_id):
        job_id = parse_job_id(raw_id)
        if job_id is None or job_id not in self.followers:
            await self._error("bad_request", "Not subscribed to that job.", raw_id)
            return
        await self._stop_following(job_id)
        await self.send_json({"type": "unsubscribed", "job_id": job_id})

    async def _stop_following(self, job_id):
        follower = self.followers.pop(job_id)
        await self.channel_layer.group_discard(live.job_group_name(job_id), self.channel_name)
        await follower.stop()

    async def _error(self, code, message, job_id=None):
        await self.send_json(error_event(code, message, job_id))

    # -- channel-layer events (type "job.output" → job_output, ...) --------------------------
    async def job_output(self, event):
        follower = self.followers.get(event["job_id"])
        if follower is not None:
            follower.feed(event)

    job_progress = job_output
    job_completed = job_output
    job_failed = job_output
