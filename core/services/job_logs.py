"""Reading a job's stored log: streamed in chunks, never loaded whole."""

from asgiref.sync import sync_to_async

from core.models import JobLogLine

LOG_CHUNK = 5000


def log_chunk(job_id, after: int) -> list:
    """Up to LOG_CHUNK (seq, line) pairs of the job's log after `after`."""
    return list(
        JobLogLine.objects.filter(job_id=job_id, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "line")[:LOG_CHUNK]
    )


async def iter_job_log(job_id):
    """The job's whole log as text, chunk by chunk (async, so ASGI does not buffer it)."""
    after = 0
    while True:
        rows = await sync_to_async(log_chunk)(job_id, after)
        if not rows:
            return
        yield "".join(f"{line}\n" for _, line in rows)
        after = rows[-1][0]
