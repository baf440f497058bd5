"""Platform events → webhook deliveries.

`emit_event(event_type, data)` is the one entry point: the product and import signals are
connected to it in `WebhookConfig.ready()` (see `connect_receivers`), and any code may call
it directly. Deliveries are created only after the surrounding transaction commits, so a
rolled-back change sends nothing.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from import_manager.jobs import CATALOG_IMPORT
from product.columns import COLUMNS, MONEY_COLUMNS, MONEY_PLACES, PUBLIC_COLUMNS
from webhook.models import EventType

from . import delivery

logger = logging.getLogger(__name__)


def emit_event(event_type: str, data: dict) -> None:
    """Queue `event_type` with `data` for every enabled webhook subscribed to it.

    The payload ({event_type, timestamp, data}) is built now, so it is a snapshot of the
    moment of the event; delivery rows and Celery messages follow after commit.
    """
    if event_type not in EventType.values:
        raise ValueError(f"Unknown webhook event type '{event_type}'.")
    body = delivery.encode_body(delivery.build_payload(event_type, data))
    # robust: a failure here is logged and never breaks the caller's other commit hooks.
    transaction.on_commit(partial(delivery.create_deliveries, event_type, body), robust=True)


# --- event data ----------------------------------------------------------------------------


#: What product events carry: the id, the columns the product's contract marks public
#: (`cost` stays inside), the timestamps.
PRODUCT_EVENT_FIELDS = ("id", *PUBLIC_COLUMNS, "created_at", "updated_at")
_CENT = Decimal(1).scaleb(-MONEY_PLACES)


def product_event_data(product) -> dict:
    """The `data` of a product event, from a Product instance or a snapshot dict (deleted
    products: only the fields the snapshot has).

    Money stays a Decimal with two places, so the body carries it as a JSON number with
    exactly those digits (see delivery.encode_body); times are ISO 8601 UTC with `Z`.
    """
    if isinstance(product, dict):
        values = product
    else:
        values = {name: getattr(product, name) for name in PRODUCT_EVENT_FIELDS if name != "id"}
        values["id"] = product.pk
    return {
        name: _event_value(name, values[name]) for name in PRODUCT_EVENT_FIELDS if name in values
    }


def _event_value(name: str, value):
    if value is None:
        return None
    if name in MONEY_COLUMNS:
        return Decimal(str(value)).quantize(_CENT)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple | list):
        return list(value)
    return value


def import_data(job, summary: dict | None) -> dict:
    """The `data` of an `import.completed` event: the job's identity and its summary."""
    finished_at = getattr(job, "finished_at", None)
    return {
        "job_id": str(getattr(job, "pk", job)),
        "kind": getattr(job, "kind", ""),
        "status": str(getattr(job, "status", "")),
        "title": getattr(job, "title", ""),
        "finished_at": finished_at.isoformat() if finished_at else None,
        "summary": summary or {},
    }


def sample_data(event_type: str, webhook) -> dict:
    """Example `data` for the test action (clearly fake values)."""
    now = timezone.now()
    if event_type in (EventType.PRODUCT_CREATED, EventType.PRODUCT_UPDATED):
        data = product_event_data(
            {
                "id": 0,
                **{column.name: copy.deepcopy(column.default) for column in COLUMNS},
                "sku": "SAMPLE-0001",
                "name": "Sample product (webhook test)",
                "price": Decimal("19.99"),
                "is_active": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        if event_type == EventType.PRODUCT_UPDATED:
            data["changes"] = ["price"]
        return data
    if event_type == EventType.PRODUCT_DELETED:
        return {"id": 0, "sku": "SAMPLE-0001", "name": "Sample product (webhook test)"}
    if event_type == EventType.IMPORT_COMPLETED:
        return {
            "job_id": "00000000-0000-0000-0000-000000000000",
            "kind": CATALOG_IMPORT.name,
            "status": "completed",
            "title": "Sample import (webhook test)",
            "finished_at": now.isoformat(),
            "summary": {"created": 0, "updated": 0, "failed": 0},
        }
    if event_type == EventType.CODES_POOL_LOW:
        return pool_low_data("sample", 3, 10)
    return {"message": "Test event from the platform.", "webhook_id": webhook.pk}


def pool_low_data(code_type: str, available: int, low_water_mark: int) -> dict:
    """The `data` of a `codes.pool_low` event: the type whose available codes fell below
    its low-water mark, and the counts."""
    return {
        "code_type": str(code_type),
        "available": int(available),
        "low_water_mark": int(low_water_mark),
    }


# --- signal receivers ----------------------------------------------------------------------


def _guarded(event_type: str, build):
    """Run a receiver without ever failing the sender: the product change is committed."""
    try:
        emit_event(event_type, build())
    except Exception:  # logged: webhooks must never break a committed product change
        logger.exception("webhook event %s could not be queued", event_type)


def on_product_created(sender, product, **kwargs):
    _guarded(EventType.PRODUCT_CREATED, lambda: product_event_data(product))


def on_product_updated(sender, product, changes=None, **kwargs):
    def build():
        data = product_event_data(product)
        names = changes.keys() if isinstance(changes, dict) else (changes or [])
        data["changes"] = sorted(str(name) for name in names)
        return data

    _guarded(EventType.PRODUCT_UPDATED, build)


def on_product_deleted(sender, product_data=None, **kwargs):
    snapshot = product_data or {}
    _guarded(EventType.PRODUCT_DELETED, lambda: product_event_data(snapshot))


def on_import_completed(sender, job=None, summary=None, **kwargs):
    _guarded(EventType.IMPORT_COMPLETED, lambda: import_data(job, summary))


def on_codes_pool_low(sender, code_type=None, available=0, low_water_mark=0, **kwargs):
    _guarded(EventType.CODES_POOL_LOW, lambda: pool_low_data(code_type, available, low_water_mark))


def connect_receivers() -> None:
    """Connect the event sources (called from WebhookConfig.ready)."""
    from import_manager import signals as import_signals
    from product import signals as product_signals

    product_signals.product_created.connect(
        on_product_created, dispatch_uid="webhook.product_created"
    )
    product_signals.product_updated.connect(
        on_product_updated, dispatch_uid="webhook.product_updated"
    )
    product_signals.product_deleted.connect(
        on_product_deleted, dispatch_uid="webhook.product_deleted"
    )

    import_signals.import_completed.connect(
        on_import_completed, dispatch_uid="webhook.import_completed"
    )

    from codes import signals as codes_signals

    codes_signals.pool_low.connect(on_codes_pool_low, dispatch_uid="webhook.codes_pool_low")


def send_sample_event(webhook, event_type: str | None = None):
    """The test action: send a sample `event_type` (default `webhook.test`) to `webhook`
    now and return the recorded attempt (status code, duration, response excerpt)."""
    from webhook.models import TEST_EVENT_TYPE

    event_type = event_type or TEST_EVENT_TYPE
    return delivery.send_test_event(webhook, sample_data(event_type, webhook), event_type)
