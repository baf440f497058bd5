"""Publishing job events to the channel layer (the live stream's server side).

Internal message types carried on a job's group (the WebSocket consumer turns them into the
documented client protocol): `job.output` (a batch of `[seq, line]`), `job.progress`,
`job.completed`, `job.failed`.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

OUTPUT = "job.output"
PROGRESS = "job.progress"
COMPLETED = "job.completed"
FAILED = "job.failed"


def job_group_name(job_id) -> str:
    """Channel-layer group of a job (hex UUID: group names allow only [a-zA-Z0-9_.-])."""
    return f"job_{getattr(job_id, 'hex', str(job_id).replace('-', ''))}"


def publish_job_event(job_id, message: dict) -> None:
    """Send one event to a job's group from synchronous code.

    Live delivery is best effort: subscribers recover anything missed from the stored lines,
    so a channel-layer outage is logged, never raised into the job.
    """
    try:
        async_to_sync(get_channel_layer().group_send)(job_group_name(job_id), message)
    except Exception:  # noqa: BLE001 - the live stream must never fail a job
        logger.warning("could not publish %s for job %s", message.get("type"), job_id)
