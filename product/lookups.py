"""Query expressions the catalog filters share (API, admin, bulk updates)."""

from django.db.models import Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

from core.lookups import TrigramContains, contains

__all__ = ["TrigramContains", "contains", "sku_equals"]


def sku_equals(sku: str) -> Exact:
    """A filter expression: the SKU equals `sku` case-insensitively.

    Written as `lower(sku) = lower(%s)` so it is served by the unique index on `lower(sku)`
    (Django's `iexact` uses UPPER(), which that index cannot serve). Both sides are lowered by
    PostgreSQL, so the comparison is exactly the one the unique index enforces.
    """
    return Exact(Lower("sku"), Lower(Value(sku)))
