"""The inbound inbox: events other systems send us, each applied exactly once.

Domain apps register a handler per (source, event type) from their AppConfig.ready():

    from webhook.services import inbox

    inbox.register_handler("make", "order.created", handle_order_created)

A handler gets the `InboundEvent` (its `payload`, `event_id`, ...) and returns a small
JSON-able dict, its outcome, stored on the event. It runs inside the transaction that
claimed the event, in a savepoint: whatever it writes commits together with the event row
marked `processed`, or, if it raises, is rolled back while the row is committed as `failed`
(with the error) to be processed again by a retry of the same event or an operator's replay.
Outside effects belong after commit (`transaction.on_commit`, or a job: `start_job` enqueues
after commit), so a failed handler never sends anything. Handlers must be quick (the sender
waits, and retries on timeouts); slow work goes to a job.

`receive_event(source, event_id, event_type, payload)` is what receivers call once they have
authenticated the request; `replay_event(pk)` is the operators' replay.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import PlatformError
from webhook.exceptions import (
    InboundEventConflict,
    InboundEventNotReplayable,
    InboundHandlerFailed,
)
from webhook.models import InboundEvent, InboundStatus

logger = logging.getLogger(__name__)

Handler = Callable[[InboundEvent], dict | None]

_HANDLERS: dict[tuple[str, str], Handler] = {}


def register_handler(source: str, event_type: str, handler: Handler) -> None:
    """Process `source`'s events of `event_type` with `handler` (registering the same pair
    again replaces it: ready() may run twice)."""
    _HANDLERS[(source, event_type)] = handler


def unregister_handler(source: str, event_type: str) -> None:
    _HANDLERS.pop((source, event_type), None)


def handler_for(source: str, event_type: str) -> Handler | None:
    return _HANDLERS.get((source, event_type))


def registered_event_types(source: str) -> list[str]:
    """The event types of `source` that have a handler, sorted."""
    return sorted(event_type for src, event_type in _HANDLERS if src == source)


def payload_digest(payload) -> str:
    """SHA-256 of the payload's canonical JSON: the same content always gives the same
    digest, whatever its key order or spacing on the wire."""
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """What became of one received (or replayed) event."""

    event: InboundEvent
    duplicate: bool = False
    # The handler's error when this attempt failed (the event is stored `failed`).
    failure: PlatformError | None = None


def receive_event(source: str, event_id: str, event_type: str, payload: dict) -> Receipt:
    """Claim the event and apply its handler, in one transaction.

    - A new event runs its handler (or is stored `ignored` when its type has none).
    - The same event again (same id, same body) after it was processed or ignored is a
      duplicate: nothing runs, the stored event is returned with `duplicate=True`.
    - The same id with a different body raises InboundEventConflict (409): an event id
      names one event.
    - A retry of an event that failed runs the handler again (the sender retrying is how
      a transient failure heals).
    """
    digest = payload_digest(payload)
    with transaction.atomic():
        event = _claim(source, event_id, event_type, payload, digest)
        if event is None:
            event = InboundEvent.objects.select_for_update().get(source=source, event_id=event_id)
            if event.body_sha256 != digest:
                raise InboundEventConflict(
                    f"Event '{event_id}' was already received with a different body "
                    f"(first received {event.received_at.isoformat()}). An event id names one "
                    "event: send a new id for a new event.",
                    fields={"event_id": ["Already used for a different body."]},
                )
            if event.status in (InboundStatus.PROCESSED, InboundStatus.IGNORED):
                _count_duplicate(event)
                return Receipt(event, duplicate=True)
        failure = _process(event)
    return Receipt(event, failure=failure)


def replay_event(pk: int, *, user=None) -> Receipt:
    """Run the handler of a stored event again: a failed one (after its cause was fixed) or
    an ignored one (its type has a handler now). A processed event is never applied twice."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().get(pk=pk)
        if event.status == InboundStatus.PROCESSED:
            raise InboundEventNotReplayable(
                f"Event '{event.event_id}' was processed already; it is never applied twice."
            )
        if user is not None and user.is_authenticated:
            event.replayed_by = user
        failure = _process(event)
    return Receipt(event, failure=failure)


def _claim(source, event_id, event_type, payload, digest) -> InboundEvent | None:
    """Insert the event as `received`, or return None when its id is taken.

    ON CONFLICT DO NOTHING waits for a concurrent transaction holding the same id to end,
    so of two simultaneous deliveries of one event exactly one claims it and the other then
    sees the committed outcome.
    """
    now = timezone.now()
    event = InboundEvent(
        source=source,
        event_id=event_id,
        event_type=event_type,
        body_sha256=digest,
        payload=payload,
        status=InboundStatus.RECEIVED,
        received_at=now,
    )
    table = InboundEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (source, event_id, event_type, body_sha256, payload, status,
                outcome, error_code, error, attempts, duplicates, received_at, updated_at)
            VALUES (%s, %s, %s, %s, %s::jsonb, %s, '{{}}'::jsonb, '', '', 0, 0, %s, %s)
            ON CONFLICT (source, event_id) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - the table name is our model's
            [
                source,
                event_id,
                event_type,
                digest,
                json.dumps(payload, cls=DjangoJSONEncoder),
                InboundStatus.RECEIVED,
                now,
                now,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    event.pk = row[0]
    event.updated_at = now
    return event


def _count_duplicate(event: InboundEvent) -> None:
    now = timezone.now()
    InboundEvent.objects.filter(pk=event.pk).update(
        duplicates=F("duplicates") + 1, last_duplicate_at=now
    )
    event.duplicates += 1
    event.last_duplicate_at = now


def _process(event: InboundEvent) -> PlatformError | None:
    """Run the event's handler in a savepoint and store the outcome on the event (inside
    the caller's transaction). Returns the failure, if the handler raised."""
    handler = handler_for(event.source, event.event_type)
    event.attempts += 1
    started = time.monotonic()
    failure = None
    if handler is None:
        event.status = InboundStatus.IGNORED
        event.outcome = {
            "reason": f"No handler for '{event.event_type}' events from {event.source}."
        }
        event.error_code, event.error = "", ""
    else:
        try:
            with transaction.atomic():
                outcome = _json_safe(handler(event) or {})
        except Exception as exc:  # noqa: BLE001 - stored on the event, never lost
            failure = _as_platform_error(exc, event)
            event.status = InboundStatus.FAILED
            event.error_code = failure.code
            # The operators' record has the details; the sender only gets `failure`.
            detail = failure.message if isinstance(exc, PlatformError) else _describe(exc)
            event.error = detail[:10_000]
        else:
            event.status = InboundStatus.PROCESSED
            event.outcome = outcome
            event.error_code, event.error = "", ""
    event.processed_at = timezone.now()
    event.duration_ms = int((time.monotonic() - started) * 1000)
    event.save()
    return failure


def _json_safe(outcome: dict) -> dict:
    # Round-tripped now so a handler returning a Decimal or a date fails here, in its
    # savepoint, not when the event row is saved.
    return json.loads(json.dumps(outcome, cls=DjangoJSONEncoder))


def _as_platform_error(exc: Exception, event: InboundEvent) -> PlatformError:
    if isinstance(exc, PlatformError):
        logger.warning(
            "inbound %s event %s (%s) refused by its handler: %s",
            event.source,
            event.event_id,
            event.event_type,
            exc.message,
        )
        return exc
    logger.exception(
        "inbound %s event %s (%s): handler failed", event.source, event.event_id, event.event_type
    )
    return InboundHandlerFailed(
        f"The '{event.event_type}' handler failed; nothing of it was applied. The event is "
        "stored as failed: sending it again, or an operator's replay, processes it again."
    )


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
