"""The catalog's errors (the API error handler maps them to HTTP codes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.exceptions import PlatformError

if TYPE_CHECKING:
    from product.models import Product


class PriceOutOfRange(PlatformError):
    code = "price_out_of_range"


class MissingSelection(PlatformError):
    code = "selection_required"


class SkuConflict(PlatformError):
    """The SKU is already taken by another product, possibly in another letter case."""

    code = "sku_conflict"
    status = 400

    def __init__(self, sku: str, existing: Product | None):
        if existing is None:
            message = f"SKU '{sku}' is already used by another product."
        elif existing.sku == sku:
            message = f"SKU '{sku}' is already used by product {existing.pk}."
        else:
            message = (
                f"SKU '{sku}' conflicts with the SKU '{existing.sku}' of product {existing.pk}: "
                "SKUs are unique regardless of letter case."
            )
        super().__init__(message, fields={"sku": [message]})
        self.sku = sku
        self.existing = existing
