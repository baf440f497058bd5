"""Query expressions the apps' filters share."""

from django.db.models import F, Lookup


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
