"""Batched persistence and live publication of a running job's log lines and progress.

Writing and publishing one message per line cannot keep up with thousands of lines a second
(ARCHITECTURE.md, measured facts), so a job's lines and progress updates go into an in-memory
queue that a background thread drains: a line after a quiet spell at once, a busy stream at
most every JOB_LOG_FLUSH_INTERVAL seconds (or as soon as JOB_LOG_FLUSH_LINES are waiting).
Each drain is one COPY into `core_joblogline`, one append to `logs/jobs/<id>.log` and one
channel-layer event per run of lines, in order.

The thread owns its own database connection (autocommit) and its own event loop, so lines
are committed even if the job's own code runs inside a transaction that later rolls back.
"""

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction

from . import live

logger = logging.getLogger(__name__)

MAX_LINE_CHARS = 10_000
# COPY's text format: backslash, tab, newline and carriage return must be escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Producers block once this many items are waiting, so a runaway job cannot exhaust memory.
MAX_PENDING = 50_000


def clean_line(line: str) -> str:
    """A log line as stored: no trailing newline, no NUL (PostgreSQL text refuses it), capped."""
    line = str(line).rstrip("\r\n").replace("\x00", "\ufffd")
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + " …[truncated]"
    return line


@dataclass
class _Progress:
    progress: int
    phase: str
    counters: dict = field(default_factory=dict)


@dataclass
class _Fields:
    """Columns of the job row to set, in order with the lines around them."""

    values: dict


class JobStream:
    """Ordered, batched sink for one job's output lines and progress updates."""

    def __init__(self, job_id, *, start_seq: int = 0):
        self.job_id = job_id
        self.seq = start_seq
        self._items: list = []  # (seq, line, time) tuples and _Progress objects, in order
        self._cond = threading.Condition()
        self._closed = False
        self._last_write_at = 0.0
        self._interval = settings.JOB_LOG_FLUSH_INTERVAL
        self._batch_lines = settings.JOB_LOG_FLUSH_LINES
        self._log_path = Path(settings.JOB_LOG_DIR) / f"{job_id}.log"
        self._thread = threading.Thread(target=self._run, name=f"job-stream-{job_id}", daemon=True)
        self._thread.start()

    # -- producer side (the job's thread) ------------------------------------------------
    def line(self, text: str) -> int:
        """Queue one line; returns its sequence number."""
        text = clean_line(text)
        with self._cond:
            self._wait_for_room()
            self.seq += 1
            self._append((self.seq, text, datetime.now(UTC)))
            return self.seq

    def lines(self, texts) -> None:
        """Queue many lines at once (one lock round-trip)."""
        now = datetime.now(UTC)
        with self._cond:
            self._wait_for_room()
            for text in texts:
                self.seq += 1
                self._append((self.seq, clean_line(text), now))

    def progress(self, progress: int, phase: str, counters: dict) -> None:
        with self._cond:
            self._append(_Progress(progress, phase, dict(counters)))

    def set_fields(self, **values) -> None:
        """Set columns of the job row (committed on the stream's own connection, so visible
        to other processes at once, whatever transaction the job is in); waits until done."""
        with self._cond:
            self._append(_Fields(values))
        self.drain()

    def drain(self) -> None:
        """Block until everything queued so far is written and published."""
        with self._cond:
            self._cond.notify_all()
            while self._items:
                self._cond.wait(0.05)

    def close(self) -> None:
        """Write what is left and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _append(self, item) -> None:
        if not self._items:
            self._cond.notify_all()
        self._items.append(item)
        if len(self._items) >= self._batch_lines:
            self._cond.notify_all()

    def _wait_for_room(self) -> None:
        while len(self._items) >= MAX_PENDING and not self._closed:
            self._cond.wait(0.1)

    # -- consumer side (the stream's thread) ---------------------------------------------
    def _take_batch(self):
        """Wait for work and return everything queued, oldest first.

        After a quiet spell a line goes out at once; while output keeps coming, writes are
        spaced JOB_LOG_FLUSH_INTERVAL apart (or happen as soon as JOB_LOG_FLUSH_LINES wait),
        so a chatty job costs a bounded number of writes and events per second.
        """
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if not self._items:
                return None
            deadline = self._last_write_at + self._interval
            while len(self._items) < self._batch_lines and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch, self._items = self._items, []
            self._cond.notify_all()  # wake producers waiting for room
            return batch

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while (batch := self._take_batch()) is not None:
                self._last_write_at = time.monotonic()
                try:
                    self._write(batch, loop)
                except Exception:
                    logger.exception("job %s: could not write a log batch", self.job_id)
                    close_old_connections()
        finally:
            connection.close()
            loop.close()  # also closes the channel layer's connections for this loop

    def _write(self, batch, loop) -> None:
        lines = [item for item in batch if isinstance(item, tuple)]
        progress = next((i for i in reversed(batch) if isinstance(i, _Progress)), None)
        fields = {}
        for item in batch:
            if isinstance(item, _Fields):
                fields.update(item.values)
        last_seq = lines[-1][0] if lines else 0
        now = datetime.now(UTC)
        connection.ensure_connection()
        with connection.cursor() as cursor:
            if lines:
                # One pre-formatted text block per batch: a per-row write_row() call was the
                # worker's main cost on a fast stream (profiled at 100k lines).
                job_id = str(self.job_id)
                block = "".join(
                    f"{job_id}\t{seq}\t{text.translate(_COPY_ESCAPES)}\t{created_at.isoformat()}\n"
                    for seq, text, created_at in lines
                )
                with cursor.copy(
                    "COPY core_joblogline (job_id, seq, line, created_at) FROM STDIN"
                ) as copy:
                    copy.write(block.encode("utf-8"))
            if progress is not None:
                cursor.execute(
                    "UPDATE core_job SET log_line_count = GREATEST(log_line_count, %s),"
                    " heartbeat_at = %s, progress = %s, phase = %s,"
                    " counters = counters || %s::jsonb WHERE id = %s",
                    [
                        last_seq,
                        now,
                        progress.progress,
                        progress.phase,
                        json.dumps(progress.counters, default=str),
                        self.job_id,
                    ],
                )
            else:
                cursor.execute(
                    "UPDATE core_job SET log_line_count = GREATEST(log_line_count, %s),"
                    " heartbeat_at = %s WHERE id = %s",
                    [last_seq, now, self.job_id],
                )
            if fields:
                quote = connection.ops.quote_name
                assignments = ", ".join(f"{quote(name)} = %s" for name in fields)
                cursor.execute(
                    f"UPDATE core_job SET {assignments} WHERE id = %s",  # noqa: S608 - our names
                    [*fields.values(), self.job_id],
                )
        if lines:
            with self._log_path.open("a", encoding="utf-8") as handle:
                handle.writelines(f"{text}\n" for _, text, _ in lines)
        self._publish(batch, loop)

    def _publish(self, batch, loop) -> None:
        """One channel-layer event per run of consecutive lines, and one per progress."""
        job_id = str(self.job_id)
        messages, run = [], []
        for item in batch:
            if isinstance(item, _Fields):
                continue
            if isinstance(item, tuple):
                run.append([item[0], item[1]])
                continue
            if run:
                messages.append({"type": live.OUTPUT, "job_id": job_id, "lines": run})
                run = []
            messages.append(
                {
                    "type": live.PROGRESS,
                    "job_id": job_id,
                    "progress": item.progress,
                    "phase": item.phase,
                    "counters": item.counters,
                }
            )
        if run:
            messages.append({"type": live.OUTPUT, "job_id": job_id, "lines": run})
        group = live.job_group_name(self.job_id)
        layer = get_channel_layer()
        try:
            for message in messages:
                loop.run_until_complete(layer.group_send(group, message))
        except Exception:  # noqa: BLE001 - subscribers recover from the stored lines
            logger.warning("job %s: live publication failed", self.job_id)


def append_lines(job_id, lines: list[str]) -> None:
    """Store and publish lines for a job that no stream is writing (its worker died).

    Numbered after the highest stored line: a dead attempt may have stored lines without
    counting them in `log_line_count`, and one wrongly declared dead may still be writing a
    last batch (then the numbers are taken again).
    """
    texts = [clean_line(line) for line in lines]
    for _ in range(5):
        try:
            with transaction.atomic():
                rows = _insert_after_last(job_id, texts)
            break
        except IntegrityError:
            time.sleep(0.05)
    else:
        logger.warning("job %s: could not append %s lines", job_id, len(texts))
        return
    with (Path(settings.JOB_LOG_DIR) / f"{job_id}.log").open("a", encoding="utf-8") as handle:
        handle.writelines(f"{text}\n" for text in texts)
    job_id = str(job_id)
    live.publish_job_event(
        job_id, {"type": live.OUTPUT, "job_id": job_id, "lines": [list(row) for row in rows]}
    )


def _insert_after_last(job_id, texts: list[str]) -> list[tuple[int, str]]:
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(j.log_line_count, COALESCE(MAX(l.seq), 0)) FROM core_job j"
            " LEFT JOIN core_joblogline l ON l.job_id = j.id WHERE j.id = %s"
            " GROUP BY j.log_line_count",
            [job_id],
        )
        (last,) = cursor.fetchone()
        rows = [(last + n, text) for n, text in enumerate(texts, start=1)]
        cursor.executemany(
            "INSERT INTO core_joblogline (job_id, seq, line, created_at) VALUES (%s, %s, %s, %s)",
            [(job_id, seq, text, now) for seq, text in rows],
        )
        cursor.execute(
            "UPDATE core_job SET log_line_count = GREATEST(log_line_count, %s) WHERE id = %s",
            [last + len(texts), job_id],
        )
    return rows
