"""Delivery of events to webhooks: one row per attempt, signed requests, retries, re-sends.

Lifecycle of one event for one webhook (all rows share `message_id`):

    pending ──(worker claims)──▶ sending ──▶ succeeded
                                        ├──▶ retrying + a new `pending` row (attempt n+1,
                                        │     due after the backoff / Retry-After)
                                        └──▶ failed   (4xx, refused URL, attempts used up)

Rows are created and Celery messages published only after the surrounding transaction
commits. A worker claims a row with a conditional UPDATE (pending → sending), so a message
delivered twice (broker redelivery, maintenance re-enqueue) sends once.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime

import httpx
import simplejson
from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from core.services import ssrf
from webhook.exceptions import DeliveryStateConflict
from webhook.models import DeliveryStatus, Webhook, WebhookDelivery
from webhook.models.webhook import MAX_TIMEOUT

from . import signing
from .headers import masked

logger = logging.getLogger(__name__)

USER_AGENT = "CatalogPlatform-Webhooks/1.0"


@dataclass
class Outcome:
    """What one attempt produced."""

    succeeded: bool = False
    retryable: bool = False
    status_code: int | None = None
    excerpt: str = ""
    duration_ms: int | None = None
    error: str = ""
    retry_after: float | None = None


# --- payloads ------------------------------------------------------------------------------


def build_payload(event_type: str, data: dict, *, timestamp=None) -> dict:
    """The JSON document POSTed to receivers: {event_type, timestamp, data}."""
    timestamp = timestamp or timezone.now()
    return {
        "event_type": event_type,
        "timestamp": timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


_DJANGO_ENCODER = DjangoJSONEncoder()


def encode_body(payload: dict) -> str:
    """Serialize once: the exact text is stored, signed and re-sent byte for byte.

    A Decimal becomes a JSON number written with its own digits (`Decimal("12.50")` →
    `12.50`), never through a float: the standard library's encoder cannot write a raw
    number, simplejson's `use_decimal` does. NaN and infinities are refused (not JSON).
    Other types (datetimes, UUIDs) as Django's encoder writes them.
    """
    return simplejson.dumps(
        payload,
        use_decimal=True,
        allow_nan=False,
        default=_DJANGO_ENCODER.default,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# --- creating and scheduling ---------------------------------------------------------------


#: The Celery task that makes one attempt (webhook/tasks.py), sent by name: services never
#: import task modules.
DELIVER_TASK = "webhook.tasks.deliver_webhook"
#: The Celery queue that carries every outbound HTTP call of this app (both its tasks).
WEBHOOK_QUEUE = "webhooks"


def _publish(delivery_id: int, countdown: float) -> None:
    current_app.send_task(
        DELIVER_TASK, args=[delivery_id], queue=WEBHOOK_QUEUE, countdown=max(countdown, 0)
    )


def schedule(delivery: WebhookDelivery, countdown: float = 0.0) -> None:
    """Enqueue the attempt on the `webhooks` queue once the current transaction commits."""
    delivery_id = delivery.pk
    # Looked up at call time (not bound now) so tests can observe publishing.
    transaction.on_commit(lambda: _publish(delivery_id, countdown), robust=True)


def create_deliveries(event_type: str, body: str) -> list[WebhookDelivery]:
    """Create the first attempt of `body` for every enabled webhook subscribed to
    `event_type`, and schedule them. Call it after the event's transaction committed."""
    now = timezone.now()
    max_attempts = settings.WEBHOOK_MAX_ATTEMPTS
    with transaction.atomic():
        webhooks = Webhook.objects.filter(is_enabled=True, event_types__contains=[event_type])
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                webhook=webhook,
                message_id=new_message_id(),
                event_type=event_type,
                attempt=1,
                max_attempts=max_attempts,
                request_url=webhook.url,
                request_body=body,
                scheduled_for=now,
            )
            for webhook in webhooks
        )
        for delivery in deliveries:
            schedule(delivery)
    if deliveries:
        logger.info("webhook event %s: %d deliveries queued", event_type, len(deliveries))
    return deliveries


def retry_delay(failed_attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after attempt `failed_attempt` failed: exponential backoff with a
    little jitter, at least the receiver's Retry-After, at most WEBHOOK_RETRY_MAX_DELAY."""
    base = float(settings.WEBHOOK_RETRY_BASE_DELAY)
    factor = float(settings.WEBHOOK_RETRY_BACKOFF_FACTOR)
    cap = float(settings.WEBHOOK_RETRY_MAX_DELAY)
    delay = base * factor ** (failed_attempt - 1)
    # Jitter spreads retries so a receiver that comes back is not hit by all of them at once.
    delay *= 1 + random.random() * 0.1  # noqa: S311 - not cryptographic
    if retry_after:
        delay = max(delay, retry_after)
    return min(delay, cap)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - timezone.now()).total_seconds(), 0.0)


# --- one attempt ---------------------------------------------------------------------------


def attempt_delivery(delivery_id: int, *, allow_retry: bool = True) -> WebhookDelivery | None:
    """Make one attempt: claim the pending row, send the signed request, record the
    outcome, and schedule the next attempt when the failure is retryable.

    Returns the updated row, or None when the row is gone or no longer pending (another
    worker already handled this message).
    """
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, sent_at=now, updated_at=now
    )
    if not claimed:
        logger.info("webhook delivery %s: not pending any more, skipped", delivery_id)
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    if not webhook.is_enabled and not delivery.is_test:
        outcome = Outcome(error="The webhook is disabled; nothing was sent.")
    else:
        try:
            outcome = _send(webhook, delivery)
        except Exception:
            # A bug must not leave the row "sending" until maintenance finds it: record the
            # attempt as failed (retryable) and keep the traceback in the logs.
            logger.exception("webhook delivery %s: unexpected error while sending", delivery_id)
            outcome = Outcome(retryable=True, error="Internal error while sending; see the logs.")
    return _record(delivery, outcome, allow_retry=allow_retry)


def _request_headers(webhook: Webhook, delivery: WebhookDelivery, body: bytes) -> dict:
    timestamp = int(time.time())  # per attempt: receivers reject stale timestamps
    return {
        **webhook.headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.sign(webhook.secret, delivery.message_id, timestamp, body),
    }


def _send(webhook: Webhook, delivery: WebhookDelivery) -> Outcome:
    body = delivery.request_body.encode()
    headers = _request_headers(webhook, delivery, body)
    delivery.request_url = webhook.url
    delivery.request_headers = masked(headers)
    try:
        # Checked again at send time: DNS may point somewhere else than when it was saved.
        target = ssrf.assert_public_url(
            webhook.url, allowed_networks=settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS
        )
    except ssrf.HostResolutionError as exc:
        return Outcome(retryable=True, error=exc.message)
    except ssrf.UnsafeURLError as exc:
        return Outcome(error=f"Refused: {exc.message}")

    timeout = min(max(webhook.timeout, 1), MAX_TIMEOUT)
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        # trust_env=False: no proxy from the environment (it would bypass the address pin);
        # redirects are never followed (a 3xx could point at an internal address).
        with httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
        ) as client:
            status_code, response_headers, excerpt = _post(
                client, target, headers, body, deadline=started + timeout
            )
    except httpx.TimeoutException:
        return Outcome(
            retryable=True, duration_ms=elapsed_ms(), error=f"Timed out after {timeout} s."
        )
    except httpx.HTTPError as exc:
        return Outcome(
            retryable=True,
            duration_ms=elapsed_ms(),
            error=f"Network error: {type(exc).__name__}: {exc}"[:1000],
        )
    outcome = Outcome(status_code=status_code, excerpt=excerpt, duration_ms=elapsed_ms())
    if 200 <= status_code < 300:
        outcome.succeeded = True
    elif status_code == 429 or status_code >= 500:
        outcome.retryable = True
        outcome.retry_after = parse_retry_after(response_headers.get("retry-after"))
        outcome.error = f"HTTP {status_code}."
    elif 300 <= status_code < 400:
        location = response_headers.get("location", "")[:500]
        outcome.error = f"HTTP {status_code}: redirects are not followed (Location: {location})."
    else:
        outcome.error = f"HTTP {status_code}: not retried (the receiver refused the request)."
    return outcome


def _post(client, target, headers, body, *, deadline) -> tuple[int, httpx.Headers, str]:
    """POST to the first checked address that accepts a connection; read a bounded excerpt."""
    limit = int(settings.WEBHOOK_RESPONSE_EXCERPT_BYTES)
    last_error: httpx.ConnectError | None = None
    for address in target.addresses:
        request = ssrf.pinned_request(target, address)
        try:
            with client.stream(
                "POST",
                request["url"],
                content=body,
                headers={**headers, **request["headers"]},
                extensions=request["extensions"],
            ) as response:
                chunks, size = [], 0
                # Only an excerpt is kept, so only that much is read: a huge or endless body
                # cannot hold the worker beyond the timeout.
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= limit or time.monotonic() > deadline:
                        break
                excerpt = b"".join(chunks)[:limit].decode("utf-8", errors="replace")
                return response.status_code, response.headers, excerpt
        except httpx.ConnectError as exc:
            last_error = exc  # try the host's next address
    raise last_error or httpx.ConnectError("The host has no address to connect to.")


def _record(delivery: WebhookDelivery, outcome: Outcome, *, allow_retry: bool):
    now = timezone.now()
    next_delivery = None
    with transaction.atomic():
        if outcome.succeeded:
            delivery.status = DeliveryStatus.SUCCEEDED
        elif (
            allow_retry
            and outcome.retryable
            and not delivery.is_test
            and delivery.attempt < delivery.max_attempts
        ):
            delivery.status = DeliveryStatus.RETRYING
            delay = retry_delay(delivery.attempt, outcome.retry_after)
            next_delivery = WebhookDelivery.objects.create(
                webhook_id=delivery.webhook_id,
                message_id=delivery.message_id,
                event_type=delivery.event_type,
                attempt=delivery.attempt + 1,
                max_attempts=delivery.max_attempts,
                resend_of=delivery.resend_of,
                request_url=delivery.webhook.url,
                request_body=delivery.request_body,
                scheduled_for=now + timedelta(seconds=delay),
            )
            schedule(next_delivery, countdown=delay)
        else:
            delivery.status = DeliveryStatus.FAILED
            if outcome.retryable and delivery.attempt >= delivery.max_attempts:
                outcome.error += f" Gave up after {delivery.attempt} attempts."
        delivery.response_status = outcome.status_code
        delivery.response_excerpt = outcome.excerpt
        delivery.duration_ms = outcome.duration_ms
        delivery.error = outcome.error.strip()
        delivery.finished_at = now
        delivery.save(
            update_fields=[
                "status",
                "request_url",
                "request_headers",
                "response_status",
                "response_excerpt",
                "duration_ms",
                "error",
                "finished_at",
                "updated_at",
            ]
        )
    # Ids, status and timing only: never the URL (it may carry a token) nor any header.
    logger.info(
        "webhook delivery %s (webhook %s, %s, attempt %s): %s%s%s",
        delivery.pk,
        delivery.webhook_id,
        delivery.event_type,
        delivery.attempt,
        delivery.status,
        f" HTTP {outcome.status_code}" if outcome.status_code else "",
        f", next attempt {next_delivery.pk} at {next_delivery.scheduled_for:%H:%M:%S}"
        if next_delivery
        else "",
    )
    return delivery


# --- operator actions ----------------------------------------------------------------------


def resend_delivery(delivery_id: int) -> WebhookDelivery:
    """Send a failed event again: a new pending attempt (same message id, fresh retry
    budget) is queued after commit. Raises DeliveryStateConflict unless the row is the
    latest, failed attempt of a real (non-test) event of an enabled webhook."""
    with transaction.atomic():
        failed = (
            WebhookDelivery.objects.select_for_update()
            .select_related("webhook")
            .get(pk=delivery_id)
        )
        if failed.status != DeliveryStatus.FAILED:
            raise DeliveryStateConflict(
                f"Only a failed delivery can be re-sent; this one is {failed.status}."
            )
        if failed.is_test:
            raise DeliveryStateConflict("Test deliveries are not re-sent; send a new test.")
        latest = (
            WebhookDelivery.objects.filter(message_id=failed.message_id)
            .order_by("-attempt")
            .values_list("attempt", flat=True)
            .first()
        )
        if latest != failed.attempt:
            raise DeliveryStateConflict(
                f"This event was already sent again (attempt {latest}); re-send that one."
            )
        if not failed.webhook.is_enabled:
            raise DeliveryStateConflict("The webhook is disabled; enable it before re-sending.")
        delivery = WebhookDelivery.objects.create(
            webhook=failed.webhook,
            message_id=failed.message_id,
            event_type=failed.event_type,
            attempt=failed.attempt + 1,
            max_attempts=failed.attempt + settings.WEBHOOK_MAX_ATTEMPTS,
            resend_of=failed,
            request_url=failed.webhook.url,
            request_body=failed.request_body,
            scheduled_for=timezone.now(),
        )
        schedule(delivery)
    logger.info("webhook delivery %s re-sent as %s", failed.pk, delivery.pk)
    return delivery


def send_test_event(webhook: Webhook, data: dict, event_type: str) -> WebhookDelivery:
    """Send one sample event now, in-process, without retries; the attempt is recorded
    (`is_test`) and returned with its status code, duration and response excerpt."""
    body = encode_body(build_payload(event_type, data))
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        message_id=new_message_id(),
        event_type=event_type,
        attempt=1,
        max_attempts=1,
        is_test=True,
        request_url=webhook.url,
        request_body=body,
        scheduled_for=timezone.now(),
    )
    return attempt_delivery(delivery.pk, allow_retry=False)


# --- maintenance ---------------------------------------------------------------------------


def maintain_deliveries() -> dict:
    """Periodic upkeep (beat): re-enqueue overdue pending attempts whose message was lost,
    close attempts interrupted by a dead worker (retrying them), delete old rows."""
    now = timezone.now()
    grace = timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)

    overdue = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, scheduled_for__lt=now - grace
        ).values_list("pk", flat=True)[:1000]
    )
    for delivery_id in overdue:
        _publish(delivery_id, 0)  # a duplicate message is harmless: the claim is atomic

    interrupted = 0
    stuck_before = now - grace - timedelta(seconds=MAX_TIMEOUT)
    while True:
        with transaction.atomic():
            delivery = (
                WebhookDelivery.objects.select_for_update(skip_locked=True)
                .select_related("webhook")
                .filter(status=DeliveryStatus.SENDING, sent_at__lt=stuck_before)
                .first()
            )
            if delivery is None:
                break
            _record(
                delivery,
                Outcome(retryable=True, error="Interrupted (the worker stopped); outcome unknown."),
                allow_retry=True,
            )
            interrupted += 1

    cutoff = now - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    deleted, _ = (
        WebhookDelivery.objects.filter(created_at__lt=cutoff)
        .exclude(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING])
        .delete()
    )
    result = {"requeued": len(overdue), "interrupted": interrupted, "deleted": deleted}
    if any(result.values()):
        logger.info("webhook maintenance: %s", result)
    return result
