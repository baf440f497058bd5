"""Set-based catalog changes: delete everything, change many prices in one statement.

These paths send no per-product signals (see product.signals): a single statement over
500k rows must not turn into 500k webhook events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import django_filters
from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import DecimalField, F, Value
from django.db.models.functions import Cast, Floor, Greatest, Now, Round

from core.exceptions import PlatformError
from core.models import Job
from core.services.jobs import JobContext, start_job
from product.columns import MONEY_MAX
from product.exceptions import MissingSelection, PriceOutOfRange
from product.filters import ProductFilter
from product.jobs import BULK_PRICE_UPDATE, DELETE_ALL
from product.models import Product

from .catalog_indexes import bulk_load

PRICE_CHANGE_MODES = ("set", "percent", "fixed")
#: The largest price the column (NUMERIC(12, 2)) can hold.
PRICE_LIMIT = MONEY_MAX


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
    filters: Mapping[str, Any] | None = None,
    every_product: bool = False,
    ending: Decimal | None = None,
    owner=None,
) -> BulkOutcome:
    """`bulk_update_prices` now when at most `PRODUCT_BULK_PRICE_INLINE_MAX_ROWS` products
    match, else in a job (each changed row rewrites every index: ~0.1 ms a row).

    The filters are validated now (a 400, not a failed job); the job applies them when it
    runs, so it changes the products matching at that moment.
    """
    queryset = _selected(filters, every_product)
    _price_expression(mode, Decimal(value), ending)  # rejects an unknown mode now
    if _more_than(queryset, settings.PRODUCT_BULK_PRICE_INLINE_MAX_ROWS):
        params = {
            "mode": mode,
            "value": str(value),
            "ending": None if ending is None else str(ending),
            "filters": dict(filters or {}),
            "all": every_product,
        }
        job = start_job(BULK_PRICE_UPDATE, params=params, owner=owner, title="Bulk price update")
        return BulkOutcome(job=job)
    change = {"filters": filters, "every_product": every_product, "ending": ending}
    return BulkOutcome(rows=bulk_update_prices(mode=mode, value=value, **change))


def _more_than(queryset, limit: int) -> bool:
    # Asks for one row past the limit instead of counting every matching row.
    return queryset.order_by()[limit : limit + 1].exists()


def bulk_update_prices(
    *,
    mode: str,
    value: Decimal,
    filters: Mapping[str, Any] | None = None,
    every_product: bool = False,
    ending: Decimal | None = None,
) -> int:
    """Change the price of every product matching `filters` with one UPDATE statement.

    `mode`: "set" (price = value), "percent" (price * (1 + value/100)) or "fixed"
    (price + value). The result is rounded to cents (half up) and never below zero; with
    `ending` (e.g. Decimal("0.99")) the whole units are kept and the cents replaced by it.
    `filters` are the list filters (`ProductFilter`, without ordering), at least one of
    them with a value; the whole catalog takes `every_product=True` (and no filters), never
    an empty or forgotten filter. Only rows whose price actually changes are written (and
    get a new `updated_at`); returns their count.

    Raises PlatformError for invalid or missing filters and PriceOutOfRange when a result
    would not fit the price column.
    """
    changing, new_price = _price_changes(mode, value, filters, every_product, ending)
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
    filters: Mapping[str, Any] | None = None,
    every_product: bool = False,
    ending: Decimal | None = None,
) -> int:
    """How many products `bulk_update_prices` with these arguments would change."""
    changing, _ = _price_changes(mode, value, filters, every_product, ending)
    return changing.count()


def _price_changes(mode, value, filters, every_product, ending):
    """(the selected products whose price the change alters, the new price)."""
    new_price = _price_expression(mode, Decimal(value), ending)
    return _selected(filters, every_product).exclude(price=new_price), new_price


def _selected(filters: Mapping[str, Any] | None, every_product: bool):
    """The products a bulk change applies to: those matching `filters`, or the whole
    catalog when `every_product` (asked for explicitly, never by leaving filters out)."""
    if every_product:
        if filters:
            raise MissingSelection(
                "Send either filters or all: true, not both.",
                fields={"all": ["Must not be combined with filters."]},
            )
        return Product.objects.order_by()
    if not filters:
        raise MissingSelection(
            "Say which products to change: give filters, or all: true to change every "
            "product of the catalog.",
            fields={"filters": ["Required unless all is true."]},
        )
    if "ordering" in filters:
        raise PlatformError("Ordering is not a filter.", fields={"ordering": ["Unknown filter."]})
    data = {key: _as_query_value(item) for key, item in filters.items()}
    filterset = ProductFilter(data=data, queryset=Product.objects.order_by())
    if not filterset.is_valid():
        errors = {key: list(messages) for key, messages in filterset.errors.items()}
        raise PlatformError("Invalid filters.", fields={"filters": errors})
    if all(value in django_filters.constants.EMPTY_VALUES for value in _cleaned(filterset)):
        # e.g. {"name": ""}: a filter without a value selects everything.
        raise MissingSelection(
            "The filters have no value, so they would select every product: give a value, "
            "or all: true to change every product of the catalog.",
            fields={"filters": ["At least one filter needs a value."]},
        )
    return filterset.qs.order_by()


def _cleaned(filterset) -> list:
    return [filterset.form.cleaned_data.get(name) for name in filterset.data]


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
    """The `product.delete_all` job: the whole catalog in one statement (all or nothing).

    Safe to re-run after a lost worker: the checkpoint commits with the DELETE, so a re-run
    after the delete committed does not delete the products created since.
    """
    if "deleted" in ctx.checkpoint:
        return _already_done(ctx, deleted=ctx.checkpoint["deleted"])
    ctx.log("deleting every product")
    ctx.progress(0, phase="deleting")
    with transaction.atomic():
        deleted = delete_all_products()
        ctx.save_checkpoint({"deleted": deleted})
    ctx.log(f"deleted {deleted} products")
    ctx.progress(100, phase="done", deleted=deleted)
    return {"deleted": deleted}


def run_bulk_price_job(ctx: JobContext) -> dict:
    """The `product.bulk_price_update` job: one UPDATE over the products matching the stored
    filters (validated when the job was started).

    Safe to re-run after a lost worker: the checkpoint commits with the UPDATE, so a change
    (+10 %, say) is never applied twice; a re-run before it committed applies it once.
    """
    if "updated" in ctx.checkpoint:
        return _already_done(ctx, updated=ctx.checkpoint["updated"])
    params = ctx.params
    ending = params.get("ending")
    selection = "every product" if params.get("all") else f"filters {params['filters']}"
    ctx.log(
        f"changing prices: {params['mode']} {params['value']}"
        f"{f', ending {ending}' if ending else ''}, {selection}"
    )
    ctx.progress(0, phase="updating")
    change = {
        "mode": params["mode"],
        "value": Decimal(params["value"]),
        "ending": None if ending is None else Decimal(ending),
        "filters": params["filters"],
        "every_product": params.get("all", False),
    }
    # Every changed row rewrites every index: when most of the catalog changes, building
    # the indexes again afterwards is far cheaper (measured at 500k rows: see README).
    with (
        bulk_load(count_price_changes(**change), log=ctx.log, shield=ctx.uninterruptible),
        transaction.atomic(),
    ):
        updated = bulk_update_prices(**change)
        ctx.save_checkpoint({"updated": updated})
    ctx.log(f"changed {updated} prices")
    ctx.progress(100, phase="done", updated=updated)
    return {"updated": updated}


def _already_done(ctx: JobContext, **result) -> dict:
    ctx.log(f"An earlier attempt already committed this change ({result}); nothing to redo.")
    ctx.progress(100, phase="done", **result)
    return result
