"""Manual product changes (API and admin): one product at a time, with change events.

Every change here sends its product signal only after the transaction commits, so a
receiver (webhooks, ...) never announces a change that was rolled back. Bulk paths (imports,
bulk delete, bulk price update) do not go through here and send no per-row events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.dispatch import Signal

from product.columns import COLUMN_NAMES, COLUMNS, Column, Kind
from product.exceptions import SkuConflict
from product.lookups import sku_equals
from product.models import Product
from product.signals import product_created, product_deleted, product_updated

logger = logging.getLogger(__name__)

SKU_UNIQUE_CONSTRAINT = "product_sku_ci_unique"
#: Fields a manual change may set (the product's columns); ids and timestamps are the
#: database's.
EDITABLE_FIELDS = frozenset(COLUMN_NAMES)


def find_sku_owner(sku: str, *, exclude_pk: int | None = None) -> Product | None:
    """The product whose SKU equals `sku` case-insensitively (other than `exclude_pk`)."""
    queryset = Product.objects.filter(sku_equals(sku))
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.only("id", "sku").first()


def product_snapshot(product: Product) -> dict[str, Any]:
    """A JSON-ready copy of a product's fields (what `product_deleted` receivers get)."""

    def money(value):
        return None if value is None else str(value)

    def moment(value):
        # The API's own format for UTC times (…Z), so receivers see one format.
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    def value(column: Column):
        value = getattr(product, column.name)
        if column.kind is Kind.MONEY:
            return money(value)
        return list(value) if column.kind is Kind.URL_LIST else value

    return {
        "id": product.pk,
        **{column.name: value(column) for column in COLUMNS},
        "created_at": moment(product.created_at),
        "updated_at": moment(product.updated_at),
    }


def create_product(data: Mapping[str, Any]) -> Product:
    """Create a product from validated field values.

    Raises `SkuConflict` (400) when the SKU exists in any letter case. Sends
    `product_created(product=...)` once the transaction commits.
    """
    product = Product(**_editable(data))
    with transaction.atomic():
        _save(product)
        _send_after_commit(product_created, product=product)
    return product


def update_product(product: Product, data: Mapping[str, Any]) -> Product:
    """Apply validated field values to `product` and save the ones that changed.

    Raises `SkuConflict` (400) when a new SKU is taken by another product in any letter
    case. Sends `product_updated(product=..., changes=[field names])` after commit, and
    nothing when no value actually changed.
    """
    values = _editable(data)
    changes = sorted(name for name, value in values.items() if getattr(product, name) != value)
    if not changes:
        return product
    previous = {name: getattr(product, name) for name in changes}
    for name in changes:
        setattr(product, name, values[name])
    try:
        with transaction.atomic():
            _save(product, update_fields=[*changes, "updated_at"])
            _send_after_commit(product_updated, product=product, changes=changes)
    except Exception:
        # Leave the caller's instance as stored, not half-changed.
        for name, value in previous.items():
            setattr(product, name, value)
        raise
    return product


def delete_product(product: Product) -> dict[str, Any]:
    """Delete one product; sends `product_deleted(product_data=snapshot)` after commit."""
    snapshot = product_snapshot(product)
    with transaction.atomic():
        product.delete()
        _send_after_commit(product_deleted, product_data=snapshot)
    return snapshot


def delete_products(queryset: QuerySet[Product]) -> int:
    """Delete the products of `queryset` (an admin selection), one event per product.

    Meant for hand-picked selections; deleting the whole catalog is
    `product.services.bulk.delete_all_products`, which sends no per-row events.
    """
    with transaction.atomic():
        products = list(queryset.select_for_update())
        snapshots = [product_snapshot(product) for product in products]
        Product.objects.filter(pk__in=[product.pk for product in products]).delete()
        for snapshot in snapshots:
            _send_after_commit(product_deleted, product_data=snapshot)
    return len(snapshots)


def _editable(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        # Callers pass validated data; anything else is a programming error, not user input.
        raise TypeError(f"Not editable product fields: {', '.join(sorted(unknown))}")
    return dict(data)


def _save(product: Product, update_fields=None) -> None:
    """Save, turning a case-insensitive SKU collision into `SkuConflict`.

    The unique index decides (no check-then-insert race); the savepoint keeps the caller's
    transaction usable after the violation so the conflicting product can be named.
    """
    try:
        with transaction.atomic():
            product.save(update_fields=update_fields)
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != (
            SKU_UNIQUE_CONSTRAINT
        ):
            raise
        raise SkuConflict(product.sku, find_sku_owner(product.sku, exclude_pk=product.pk)) from None


def _send_after_commit(signal: Signal, **kwargs) -> None:
    """Send `signal` once the transaction commits; a failing receiver is logged, not raised.

    The change is committed by then: an exception must neither turn the response into a
    500 nor keep the other receivers from running.
    """

    def send():
        for receiver, result in signal.send_robust(sender=Product, **kwargs):
            if isinstance(result, Exception):
                logger.error("product signal receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)
