"""Set-based catalog changes: delete everything, change many prices in one statement.

These paths send no per-product signals (see product.signals): a single statement over
500k rows must not turn into 500k webhook events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import DecimalField, F, Value
from django.db.models.functions import Cast, Floor, Greatest, Now, Round

from core.exceptions import PlatformError
from core.models import Job
from core.services.jobs import JobContext, start_job
from product.exceptions import PriceOutOfRange
from product.filters import ProductFilter
from product.jobs import BULK_PRICE_UPDATE, DELETE_ALL
from product.models import Product

from .catalog_indexes import bulk_load

PRICE_CHANGE_MODES = ("set", "percent", "fixed")
#: The largest price the column (NUMERIC(12, 2)) can hold.
PRICE_LIMIT = Decimal("9999999999.99")


@dataclass(frozen=True)
class BulkOutcome:
    """Either `rows` (done in the request: how many) or `job` (started: too many rows)."""

    rows: int | None = None
    job: Job | None = None


def delete_all_products() -> int:
    """Delete every product in one statement; returns how many were deleted.

    Plain SQL on purpose: `QuerySet.delete()` silently switches from one DELETE to loading
    every row into memory as soon as anyone connects a pre/post_delete receiver or adds a
    cascading relation, which at 500k rows is minutes instead of about half a second. A
    table that other rows reference fails here with an IntegrityError instead of cascading.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Product._meta.db_table}")  # noqa: S608 - constant name
        return cursor.rowcount


def request_delete_all_products(*, owner=None) -> BulkOutcome:
    """Delete every product now if the catalog is small, else start a job that does it.

    "Small" is at most `PRODUCT_BULK_DELETE_INLINE_MAX_ROWS` products, so that an HTTP
    request never holds a worker for long; the job reports its progress at /api/jobs/.
    """
    if _more_than(Product.objects.all(), settings.PRODUCT_BULK_DELETE_INLINE_MAX_ROWS):
        job = start_job(DELETE_ALL, owner=owner, title="Delete all products")
        return BulkOutcome(job=job)
    return BulkOutcome(rows=delete_all_products())


def request_bulk_price_update(
    *,
    mode: str,
    value: Decimal,
    filters: Mapping[str, Any],
    ending: Decimal | None = None,
    owner=None,
) -> BulkOutcome:
    """`bulk_update_prices` now when at most `PRODUCT_BULK_PRICE_INLINE_MAX_ROWS` products
    match, else in a job (each changed row rewrites every index: ~0.1 ms a row).

    The filters are validated now (a 400, not a failed job); the job applies them when it
    runs, so it changes the products matching at that moment.
    """
    queryset = _filtered(filters)
    _price_expression(mode, Decimal(value), ending)  # rejects an unknown mode now
    if _more_than(queryset, settings.PRODUCT_BULK_PRICE_INLINE_MAX_ROWS):
        params = {
            "mode": mode,
            "value": str(value),
            "ending": None if ending is None else str(ending),
            "filters": dict(filters),
        }
        job = start_job(BULK_PRICE_UPDATE, params=params, owner=owner, title="Bulk price update")
        return BulkOutcome(job=job)
    return BulkOutcome(
        rows=bulk_update_prices(mode=mode, value=value, filters=filters, ending=ending)
    )


def _more_than(queryset, limit: int) -> bool:
    # Asks for one row past the limit instead of counting every matching row.
    return queryset.order_by()[limit : limit + 1].exists()


def bulk_update_prices(
    *,
    mode: str,
    value: Decimal,
    filters: Mapping[str, Any],
    ending: Decimal | None = None,
) -> int:
    """Change the price of every product matching `filters` with one UPDATE statement.

    `mode`: "set" (price = value), "percent" (price * (1 + value/100)) or "fixed"
    (price + value). The result is rounded to cents (half up) and never below zero; with
    `ending` (e.g. Decimal("0.99")) the whole units are kept and the cents replaced by it.
    `filters` are the list filters (`ProductFilter`, without ordering). Only rows whose
    price actually changes are written (and get a new `updated_at`); returns their count.

    Raises PlatformError for invalid filters and PriceOutOfRange when a result would not
    fit the price column.
    """
    changing, new_price = _price_changes(mode, value, filters, ending)
    try:
        with transaction.atomic():
            return changing.update(price=new_price, updated_at=Now())
    except DataError as exc:
        raise PriceOutOfRange(
            f"The change would make a price larger than {PRICE_LIMIT}; nothing was changed."
        ) from exc


def count_price_changes(
    *,
    mode: str,
    value: Decimal,
    filters: Mapping[str, Any],
    ending: Decimal | None = None,
) -> int:
    """How many products `bulk_update_prices` with these arguments would change."""
    changing, _ = _price_changes(mode, value, filters, ending)
    return changing.count()


def _price_changes(mode, value, filters, ending):
    """(the products matching `filters` whose price the change alters, the new price)."""
    new_price = _price_expression(mode, Decimal(value), ending)
    return _filtered(filters).exclude(price=new_price), new_price


def _filtered(filters: Mapping[str, Any]):
    if "ordering" in filters:
        raise PlatformError("Ordering is not a filter.", fields={"ordering": ["Unknown filter."]})
    data = {key: _as_query_value(item) for key, item in filters.items()}
    filterset = ProductFilter(data=data, queryset=Product.objects.order_by())
    if not filterset.is_valid():
        errors = {key: list(messages) for key, messages in filterset.errors.items()}
        raise PlatformError("Invalid filters.", fields={"filters": errors})
    return filterset.qs.order_by()


def _as_query_value(item: Any) -> str:
    """Filters arrive as JSON values; the FilterSet reads them as query-string text."""
    if isinstance(item, bool):
        return "true" if item else "false"
    return "" if item is None else str(item)


def _price_expression(mode: str, value: Decimal, ending: Decimal | None):
    money = DecimalField(max_digits=12, decimal_places=2)
    price = F("price")
    if mode == "set":
        raw = Value(value, output_field=money)
    elif mode == "percent":
        raw = price * Value((Decimal(100) + value) / Decimal(100))
    elif mode == "fixed":
        raw = price + Value(value, output_field=money)
    else:
        raise PlatformError(f"Unknown mode '{mode}'.", fields={"mode": ["Unknown mode."]})
    # PostgreSQL's round(numeric, 2) rounds half away from zero: half up for prices >= 0.
    result = Greatest(Round(raw, 2, output_field=money), Value(Decimal("0.00")))
    if ending is not None:
        result = Floor(result, output_field=money) + Value(ending, output_field=money)
    return Cast(result, output_field=money)


def run_delete_all_job(ctx: JobContext) -> dict:
    """The `product.delete_all` job: the whole catalog in one statement (all or nothing)."""
    ctx.log("deleting every product")
    ctx.progress(0, phase="deleting")
    deleted = delete_all_products()
    ctx.log(f"deleted {deleted} products")
    ctx.progress(100, phase="done", deleted=deleted)
    return {"deleted": deleted}


def run_bulk_price_job(ctx: JobContext) -> dict:
    """The `product.bulk_price_update` job: one UPDATE over the products matching the stored
    filters (validated when the job was started)."""
    params = ctx.params
    ending = params.get("ending")
    ctx.log(
        f"changing prices: {params['mode']} {params['value']}"
        f"{f', ending {ending}' if ending else ''}, filters {params['filters']}"
    )
    ctx.progress(0, phase="updating")
    change = {
        "mode": params["mode"],
        "value": Decimal(params["value"]),
        "ending": None if ending is None else Decimal(ending),
        "filters": params["filters"],
    }
    # Every changed row rewrites every index: when most of the catalog changes, building
    # the indexes again afterwards is far cheaper (measured at 500k rows: see README).
    with bulk_load(count_price_changes(**change), log=ctx.log, shield=ctx.uninterruptible):
        updated = bulk_update_prices(**change)
    ctx.log(f"changed {updated} prices")
    ctx.progress(100, phase="done", updated=updated)
    return {"updated": updated}
