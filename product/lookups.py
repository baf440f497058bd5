"""Query expressions the catalog filters share (API, admin, bulk updates)."""

from django.db.models import F, Lookup, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact


class TrigramContains(Lookup):
    """`column ILIKE '%value%'`: a case-insensitive substring match.

    Django's `icontains` compiles to `UPPER(column) LIKE UPPER(...)` on PostgreSQL, which the
    `gin_trgm_ops` indexes on the bare columns cannot serve (a sequential scan at 500k rows);
    pg_trgm does serve `column ILIKE pattern`. LIKE wildcards in the value are escaped, so a
    `%` or `_` typed by a user matches itself.
    """

    lookup_name = "trgm_icontains"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        pattern = f"%{connection.ops.prep_for_like_query(self.rhs)}%"
        return f"{lhs_sql} ILIKE %s", (*lhs_params, pattern)


def contains(field: str, value: str) -> TrigramContains:
    """A filter expression: `field` contains `value`, case-insensitively (trigram-indexed)."""
    return TrigramContains(F(field), value)


def sku_equals(sku: str) -> Exact:
    """A filter expression: the SKU equals `sku` case-insensitively.

    Written as `lower(sku) = lower(%s)` so it is served by the unique index on `lower(sku)`
    (Django's `iexact` uses UPPER(), which that index cannot serve). Both sides are lowered by
    PostgreSQL, so the comparison is exactly the one the unique index enforces.
    """
    return Exact(Lower("sku"), Lower(Value(sku)))
