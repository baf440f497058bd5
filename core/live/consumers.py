"""`/ws/jobs/`: live log and progress of jobs.

Client → server: `{"type": "subscribe_job", "job_id": ...}`, `{"type": "unsubscribe_job", ...}`.
Server → client: `job_output {job_id, line, seq}`, `job_progress {job_id, progress, phase,
counters}`, `job_completed {job_id, status, result}`, `job_failed {job_id, status, error}`
(status `failed` or `cancelled`), `subscribed {job_id, status}`, `error {code, message, job_id?}`.

A subscriber first gets the stored lines, then live ones; sequence numbers let the consumer
drop what it already sent and fetch from the database anything the live stream skipped, so
the client sees every line once, in order.
"""

import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.models import Job, JobLogLine
from core.services import live
from core.services.job_access import can_view_job

BACKFILL_CHUNK = 5000


class JobStreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        # job id -> last sequence number sent to this client
        self.last_seq: dict[str, int] = {}
        self.finished: set[str] = set()
        await self.accept(subprotocol=self.scope.get("accepted_subprotocol"))

    async def disconnect(self, code):
        for job_id in list(getattr(self, "last_seq", {})):
            await self.channel_layer.group_discard(live.job_group_name(job_id), self.channel_name)

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
        job_id = _parse_job_id(raw_id)
        if job_id is None:
            await self._error("bad_request", "job_id must be a UUID.", raw_id)
            return
        job = await database_sync_to_async(Job.objects.filter(pk=job_id).first)()
        if job is None:
            await self._error("not_found", "No such job.", job_id)
            return
        if not await database_sync_to_async(can_view_job)(self.scope["user"], job):
            await self._error("forbidden", "You may not watch this job.", job_id)
            return
        if job_id in self.last_seq:
            return
        self.last_seq[job_id] = 0
        # Join the group before reading stored lines: anything published meanwhile is
        # queued for us and de-duplicated by seq.
        await self.channel_layer.group_add(live.job_group_name(job_id), self.channel_name)
        await self.send_json({"type": "subscribed", "job_id": job_id, "status": job.status})
        await self._backfill(job_id)
        job = await database_sync_to_async(Job.objects.get)(pk=job_id)
        await self.send_json(
            {
                "type": "job_progress",
                "job_id": job_id,
                "progress": job.progress,
                "phase": job.phase,
                "counters": job.counters,
            }
        )
        if job.is_terminal:
            await self._backfill(job_id)
            await self._send_final(job_id, job.status, job.result, job.error)

    async def _unsubscribe(self, raw_id):
        job_id = _parse_job_id(raw_id)
        if job_id is None or job_id not in self.last_seq:
            await self._error("bad_request", "Not subscribed to that job.", raw_id)
            return
        del self.last_seq[job_id]
        self.finished.discard(job_id)
        await self.channel_layer.group_discard(live.job_group_name(job_id), self.channel_name)
        await self.send_json({"type": "unsubscribed", "job_id": job_id})

    async def _backfill(self, job_id, upto: int | None = None):
        """Send stored lines after the last one sent (up to `upto`), in order."""
        while job_id in self.last_seq:
            after = self.last_seq[job_id]
            rows = await database_sync_to_async(_stored_lines)(job_id, after, upto)
            for seq, line in rows:
                await self.send_json(
                    {"type": "job_output", "job_id": job_id, "line": line, "seq": seq}
                )
            if rows:
                self.last_seq[job_id] = rows[-1][0]
            if len(rows) < BACKFILL_CHUNK:
                return

    async def _send_final(self, job_id, status, result, error):
        if job_id in self.finished:
            return
        self.finished.add(job_id)
        if status == "completed":
            await self.send_json(
                {"type": "job_completed", "job_id": job_id, "status": status, "result": result}
            )
        else:
            await self.send_json(
                {
                    "type": "job_failed",
                    "job_id": job_id,
                    "status": status,
                    "error": (error or "").split("\n\n", 1)[0],
                }
            )

    async def _error(self, code, message, job_id=None):
        event = {"type": "error", "code": code, "message": message}
        if job_id is not None:
            event["job_id"] = str(job_id)
        await self.send_json(event)

    # -- channel-layer events (type "job.output" → job_output, ...) --------------------------
    async def job_output(self, event):
        job_id = event["job_id"]
        if job_id not in self.last_seq:
            return
        lines = event["lines"]
        if lines and lines[0][0] > self.last_seq[job_id] + 1:
            await self._backfill(job_id, upto=lines[0][0] - 1)  # the live stream skipped some
        for seq, line in lines:
            if seq <= self.last_seq[job_id]:
                continue
            await self.send_json({"type": "job_output", "job_id": job_id, "line": line, "seq": seq})
            self.last_seq[job_id] = seq

    async def job_progress(self, event):
        if event["job_id"] in self.last_seq:
            await self.send_json(
                {
                    "type": "job_progress",
                    "job_id": event["job_id"],
                    "progress": event["progress"],
                    "phase": event.get("phase", ""),
                    "counters": event.get("counters", {}),
                }
            )

    async def job_completed(self, event):
        await self._on_final(event)

    async def job_failed(self, event):
        await self._on_final(event)

    async def _on_final(self, event):
        job_id = event["job_id"]
        if job_id not in self.last_seq:
            return
        await self._backfill(job_id)  # lines are stored before the final event is sent
        await self._send_final(job_id, event["status"], event.get("result"), event.get("error"))


def _parse_job_id(raw) -> str | None:
    try:
        return str(uuid.UUID(str(raw)))
    except (ValueError, TypeError):
        return None


def _stored_lines(job_id, after: int, upto: int | None):
    rows = JobLogLine.objects.filter(job_id=job_id, seq__gt=after)
    if upto is not None:
        rows = rows.filter(seq__lte=upto)
    return list(rows.order_by("seq").values_list("seq", "line")[:BACKFILL_CHUNK])
