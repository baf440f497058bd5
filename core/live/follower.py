"""Following one job for one client, whatever the transport.

Both live endpoints, the Channels WebSocket (`/ws/jobs/`) and Socket.IO (`/socket.io/`), use
this module: `open_job` decides whether a user may follow a job, and a `JobFollower` turns the
job's channel-layer events into the client protocol:

    subscribed {job_id, status}
    job_output {job_id, line, seq}          every line once, in order, stored ones first
    job_progress {job_id, progress, phase, counters}
    job_completed {job_id, status, result}  or  job_failed {job_id, status, error}, once
    error {code, message, job_id}

Each event is a dict with a "type"; the transport's `send` decides how it travels (a JSON
frame, a Socket.IO event named after the type).

A follower runs in its own task and is fed channel-layer events without waiting, so one slow
client or a long replay never holds up the transport's other work. At most
MAX_PENDING_EVENTS events wait for a client; past that live batches are dropped, and the
stored lines (seq-numbered, written before they are published) fill the gap when the next
batch or the final event arrives.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from core.models import Job, JobLogLine, JobStatus
from core.services import live
from core.services.job_access import can_view_job
from core.services.job_lifecycle import final_event

logger = logging.getLogger(__name__)

BACKFILL_CHUNK = 5000
MAX_PENDING_EVENTS = 100

Send = Callable[[dict], Awaitable[None]]


class SubscriptionRefused(Exception):
    """A subscribe request that cannot be served; `event()` is what the client is told."""

    def __init__(self, code: str, message: str, job_id=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.job_id = job_id

    def event(self) -> dict:
        return error_event(self.code, self.message, self.job_id)


def error_event(code: str, message: str, job_id=None) -> dict:
    event = {"type": "error", "code": code, "message": message}
    if job_id is not None:
        event["job_id"] = str(job_id)
    return event


def parse_job_id(raw) -> str | None:
    """The canonical form of a job id sent by a client, or None if it is not a UUID."""
    try:
        return str(uuid.UUID(str(raw)))
    except (ValueError, TypeError):
        return None


async def open_job(user, raw_id) -> Job:
    """The job `user` asks to follow; raises SubscriptionRefused when the id is malformed, the
    job does not exist, or the user is neither its owner nor staff."""
    job_id = parse_job_id(raw_id)
    if job_id is None:
        raise SubscriptionRefused("bad_request", "job_id must be a UUID.", raw_id)
    job = await database_sync_to_async(Job.objects.filter(pk=job_id).first)()
    if job is None:
        raise SubscriptionRefused("not_found", "No such job.", job_id)
    if not await database_sync_to_async(can_view_job)(user, job):
        raise SubscriptionRefused("forbidden", "You may not watch this job.", job_id)
    return job


class JobFollower:
    """One client's view of one job: replay, then live events, each line exactly once.

    The transport must join the job's channel-layer group (and route its events to `feed`)
    *before* calling `start`: whatever is published while the stored lines are read is then
    queued here and de-duplicated by sequence number, so nothing falls between the two.
    """

    def __init__(self, job: Job, send: Send):
        self.job_id = str(job.pk)
        self._status = job.status
        self._send = send
        self.last_seq = 0
        self.finished = False
        self._inbox: deque[dict] = deque()
        self._wakeup = asyncio.Event()
        self._held_progress: dict | None = None  # latest progress dropped while full
        self._task: asyncio.Task | None = None

    # -- driven by the transport ---------------------------------------------------------
    async def start(self) -> None:
        """Confirm the subscription, then replay and follow in the follower's own task."""
        await self._send({"type": "subscribed", "job_id": self.job_id, "status": self._status})
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"job-follower-{self.job_id}"
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def feed(self, event: dict) -> None:
        """Queue one channel-layer event (`job.output`, ...) for this client; never blocks."""
        if len(self._inbox) >= MAX_PENDING_EVENTS and event["type"] in (
            live.OUTPUT,
            live.PROGRESS,
        ):
            # A client this far behind gets the dropped lines from the database later; only
            # the newest progress is worth keeping.
            if event["type"] == live.PROGRESS:
                self._held_progress = event
            return
        if event["type"] == live.PROGRESS:
            self._held_progress = None  # superseded
        self._inbox.append(event)
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop sending (unsubscribe, disconnect); returns once nothing more will be sent."""
        if self._task is None:
            return
        self._task.cancel()
        # wait() rather than awaiting the task: our own cancellation must still propagate.
        await asyncio.wait([self._task])

    # -- the follower's task ---------------------------------------------------------------
    async def _run(self) -> None:
        try:
            await self._replay()
            while True:
                await self._handle(await self._next_event())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("following job %s failed", self.job_id)
            try:
                await self._send(
                    error_event(
                        "stream_failed", "Following this job failed; subscribe again.", self.job_id
                    )
                )
            except Exception:  # noqa: BLE001 - the client is most likely gone
                logger.debug("could not tell the client that following job %s failed", self.job_id)

    async def _next_event(self) -> dict:
        while not self._inbox:
            if self._held_progress is not None:
                event, self._held_progress = self._held_progress, None
                return event
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._inbox.popleft()

    async def _replay(self) -> None:
        """Stored lines, the current progress and, for a finished job, its end."""
        await self._backfill()
        job = await database_sync_to_async(Job.objects.get)(pk=self.job_id)
        await self._send(_progress_event(self.job_id, job.progress, job.phase, job.counters))
        if job.is_terminal:
            await self._backfill()
            await self._send_final(final_event(job))

    async def _handle(self, event: dict) -> None:
        kind = event["type"]
        if kind == live.OUTPUT:
            await self._on_output(event["lines"])
        elif kind == live.PROGRESS:
            await self._send(
                _progress_event(
                    self.job_id,
                    event["progress"],
                    event.get("phase", ""),
                    event.get("counters", {}),
                )
            )
        elif kind in (live.COMPLETED, live.FAILED):
            await self._backfill()  # lines are stored before the final event is sent
            if self._held_progress is not None:
                await self._handle(self._held_progress)
                self._held_progress = None
            await self._send_final(event)

    async def _on_output(self, lines) -> None:
        if lines and lines[0][0] > self.last_seq + 1:
            await self._backfill(upto=lines[0][0] - 1)  # the live stream skipped some
        for seq, line in lines:
            if seq <= self.last_seq:
                continue
            await self._send(_output_event(self.job_id, seq, line))
            self.last_seq = seq

    async def _backfill(self, upto: int | None = None) -> None:
        """Send the stored lines after the last one sent (up to `upto`), in order."""
        while True:
            rows = await database_sync_to_async(_stored_lines)(self.job_id, self.last_seq, upto)
            for seq, line in rows:
                await self._send(_output_event(self.job_id, seq, line))
            if rows:
                self.last_seq = rows[-1][0]
            if len(rows) < BACKFILL_CHUNK:
                return

    async def _send_final(self, event: dict) -> None:
        if self.finished:
            return
        self.finished = True
        status = event["status"]
        if status == JobStatus.COMPLETED:
            await self._send(
                {
                    "type": "job_completed",
                    "job_id": self.job_id,
                    "status": status,
                    "result": event.get("result"),
                }
            )
        else:
            await self._send(
                {
                    "type": "job_failed",
                    "job_id": self.job_id,
                    "status": status,
                    "error": (event.get("error") or "").split("\n\n", 1)[0],
                }
            )


def _output_event(job_id: str, seq: int, line: str) -> dict:
    return {"type": "job_output", "job_id": job_id, "line": line, "seq": seq}


def _progress_event(job_id: str, progress, phase, counters) -> dict:
    return {
        "type": "job_progress",
        "job_id": job_id,
        "progress": progress,
        "phase": phase,
        "counters": counters,
    }


def _stored_lines(job_id, after: int, upto: int | None):
    rows = JobLogLine.objects.filter(job_id=job_id, seq__gt=after)
    if upto is not None:
        rows = rows.filter(seq__lte=upto)
    return list(rows.order_by("seq").values_list("seq", "line")[:BACKFILL_CHUNK])
