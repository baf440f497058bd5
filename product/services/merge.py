# ruff: noqa: S608 - SQL built from the column contract and a checked table name, never input
"""Merging staged product rows into the catalog: the set-based statements bulk loads use.

The product app owns every statement that writes its table; a bulk loader (the importer)
stages rows and asks this module to merge them. What it hands over is a `StagedProducts`:

- `table`: a table holding one `text` column per product column it carries (`columns`,
  named like the product's columns, see `product.columns`), with values already checked
  against each column's kind: a number where a number belongs, a known boolean word, ...
  An empty (or NULL) value means "none": a new product gets the column's default;
- a `row_no bigint` column (the rows' order) with an index that finds a range of row
  numbers (a BRIN index suits rows stored in order). The table is never analysed, so the
  statements over a range run with sequential scans switched off;
- `rows`: an SQL condition selecting the rows to write, at most one per SKU (compared
  case-insensitively, trimmed).

Semantics: a SKU matches a product case-insensitively (the unique index on lower(sku)). An
existing product takes only the columns the staged rows carry (the SKU among them: it takes
the new spelling); a new one gets the defaults for the others. A product equal to its row
in every carried column is not rewritten, so it keeps its `updated_at` and costs no index
maintenance.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from core.services.planner import planner_setting
from product.columns import BY_NAME, FILE_COLUMNS, MONEY_PLACES, TRUE_WORDS, Column, Kind
from product.models import Product

from .catalog_indexes import bulk_load

PRODUCT_TABLE = Product._meta.db_table
#: Every column, in the catalog file's order (the statements list them in it).
_COLUMNS = tuple(BY_NAME[name] for name in FILE_COLUMNS)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _default_sql(column: Column) -> str:
    """SQL literal of the column's default (what a new product gets when it has no value)."""
    default = column.default
    if default is None:
        return "NULL"
    if column.kind is Kind.JSON_OBJECT:
        return f"{_literal(json.dumps(default))}::jsonb"
    if column.kind is Kind.URL_LIST:
        if default:
            raise ValueError(f"{column.name}: only an empty list default is supported")
        return "'{}'::text[]"
    if column.kind is Kind.BOOLEAN:
        return "true" if default else "false"
    if column.kind in (Kind.INTEGER, Kind.MONEY):
        return str(default)
    return _literal(str(default))


def _value_sql(column: Column) -> str:
    """SELECT expression turning the staged (checked) text of `column` into its value."""
    name = column.name
    trimmed = f"nullif(btrim({name}), '')"  # the trimmed value, NULL when empty
    default = _default_sql(column)
    kind = column.kind
    if kind is Kind.TEXT:
        text = f"btrim({name})" if column.trimmed else name
        return text if not column.blank else f"coalesce({text}, {default})"
    if kind is Kind.MONEY:
        number = f"round(btrim({name})::numeric, {MONEY_PLACES})"
        if column.blank:
            number = f"round({trimmed}::numeric, {MONEY_PLACES})"
            if column.default is not None:
                number = f"coalesce({number}, {default})"
        return number
    if kind is Kind.BOOLEAN:
        words = ", ".join(_literal(word) for word in TRUE_WORDS)
        return f"lower(btrim({name})) IN ({words})"
    if kind is Kind.CURRENCY:
        return f"coalesce(upper({trimmed}), {default})"
    if kind is Kind.INTEGER:
        return f"coalesce({trimmed}::integer, {default})"
    if kind is Kind.JSON_OBJECT:
        return f"coalesce(nullif({name}, '')::jsonb, {default})"
    if kind is Kind.URL_LIST:
        return (
            f"coalesce(ARRAY(SELECT jsonb_array_elements_text(nullif({name}, '')::jsonb)),"
            f" {default})"
        )
    raise ValueError(f"no conversion for the column kind {kind}")


class _Statements:
    """The SQL of one (table, columns, rows), built once and shared by bound copies."""

    def __init__(self, table: str, columns: Sequence[str], rows: str):
        carried = set(columns)
        missing = [c.name for c in _COLUMNS if c.required and c.name not in carried]
        if missing:
            raise ValueError(f"staged rows lack the required columns {missing}")
        self.table = table
        self.rows = rows
        self.insert_columns = [c.name for c in _COLUMNS]
        self.values = [_value_sql(c) if c.name in carried else _default_sql(c) for c in _COLUMNS]
        # The columns an existing product takes from the rows: only those carried.
        self.overwritten = [c.name for c in _COLUMNS if c.name in carried]
        self.insert = self._insert()
        self.upsert = self._upsert()
        self.predict = self._predict()

    def _winners(self) -> str:
        return f"SELECT * FROM {self.table} WHERE ({self.rows})"

    def differs(self, incoming: str) -> str:
        """Condition: the product `p` differs from the row `incoming` (a table alias with
        the product's column names) in a column the rows overwrite."""
        current = ", ".join(f"p.{name}" for name in self.overwritten)
        other = ", ".join(f"{incoming}.{name}" for name in self.overwritten)
        return f"({current}) IS DISTINCT FROM ({other})"

    def _insert(self) -> str:
        return (
            f"INSERT INTO {PRODUCT_TABLE} (created_at, updated_at,"
            f" {', '.join(self.insert_columns)})\n"
            f"SELECT now(), now(), {', '.join(self.values)}\n"
            f"FROM ({self._winners()} AND row_no > %s AND row_no <= %s) AS latest"
        )

    def _upsert(self) -> str:
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in self.overwritten)
        return (
            f"WITH latest AS ({self._winners()} AND row_no > %s AND row_no <= %s),\n"
            f"written AS (\n"
            f"  INSERT INTO {PRODUCT_TABLE} AS p (created_at, updated_at, "
            f"{', '.join(self.insert_columns)})\n"
            f"  SELECT now(), now(), {', '.join(self.values)} FROM latest\n"
            f"  ON CONFLICT (lower(sku)) DO UPDATE SET {assignments},"
            f" updated_at = EXCLUDED.updated_at\n"
            # Rewriting an identical row would churn every index for nothing.
            f"  WHERE {self.differs('EXCLUDED')}\n"
            f"  RETURNING (p.xmax = 0) AS created\n"
            f")\n"
            "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created),"
            " (SELECT count(*) FROM latest) FROM written"
        )

    def estimate(self, sample: str) -> str:
        # The incoming values are computed in `l` under the product's column names, so the
        # comparison is the upsert's `IS DISTINCT FROM` and `lower(l.sku)` finds the product
        # through the unique index. `sample`: a TABLESAMPLE clause or "".
        value_of = dict(zip(self.insert_columns, self.values, strict=True))
        selected = ", ".join(f"{value_of[name]} AS {name}" for name in self.overwritten)
        return (
            f"WITH l AS (SELECT {selected} FROM {self.table}{sample} WHERE ({self.rows}))\n"
            f"SELECT count(*), count(*) FILTER (WHERE p.id IS NULL OR {self.differs('l')})\n"
            f"FROM l LEFT JOIN {PRODUCT_TABLE} AS p ON lower(p.sku) = lower(l.sku)"
        )

    def _predict(self) -> str:
        return (
            f"SELECT count(*) FILTER (WHERE p.id IS NULL), count(p.id), count(*)"
            f" FROM ({self._winners()}) AS l"
            f" LEFT JOIN {PRODUCT_TABLE} AS p ON lower(p.sku) = lower(btrim(l.sku))"
        )


class StagedProducts:
    """Checked product rows waiting in `table` (see the module docstring), and the
    statements that merge them into the catalog, run through `cursor`."""

    def __init__(self, cursor, table: str, columns: Sequence[str], *, rows: str):
        if not _IDENTIFIER.match(table):
            raise ValueError(f"bad staging table name {table!r}")
        self.cursor = cursor
        self.table = table
        self.columns = list(columns)
        self._sql = _Statements(table, self.columns, rows)

    def bound_to(self, cursor) -> StagedProducts:
        """The same rows, merged through another connection's cursor (a writer thread)."""
        bound = copy.copy(self)  # shares the statements, built once
        bound.cursor = cursor
        return bound

    def write(self, after_row: int, upto_row: int, *, insert_only: bool = False):
        """Merge the rows (after_row, upto_row] in one transaction; returns (created,
        updated, rows in the range).

        `insert_only` (the catalog held none of these SKUs when the load began) tries a
        plain INSERT first; should someone have inserted one of the SKUs meanwhile, the
        range is upserted instead.
        """
        if insert_only:
            try:
                with transaction.atomic():
                    inserted = self.insert(after_row, upto_row)
                return inserted, 0, inserted
            except IntegrityError:
                pass  # a concurrent insert of one of these SKUs: upsert the range
        with transaction.atomic():
            return self.upsert(after_row, upto_row)

    def upsert(self, after_row: int, upto_row: int) -> tuple[int, int, int]:
        """`INSERT … ON CONFLICT (lower(sku)) DO UPDATE … WHERE … IS DISTINCT FROM …` of
        the rows (after_row, upto_row]; returns (created, updated, rows in the range)."""
        self._on_row_range(self._sql.upsert, [after_row, upto_row])
        created, updated, distinct = self.cursor.fetchone()
        return created or 0, updated or 0, distinct or 0

    def insert(self, after_row: int, upto_row: int) -> int:
        """Plain INSERT of the rows (after_row, upto_row], for a catalog that held none of
        their SKUs; returns how many were inserted.

        Without ON CONFLICT: speculative insertion costs a third more WAL and time (450k
        rows: 6.4 s against 4.0 s). A concurrent insert of one of these SKUs by someone else
        fails the statement with a unique violation (see `write`).
        """
        self._on_row_range(self._sql.insert, [after_row, upto_row])
        return self.cursor.rowcount

    def predict(self) -> tuple[int, int, int]:
        """Dry run: (would create, would update, rows), writing nothing."""
        self.cursor.execute(self._sql.predict)
        created, updated, distinct = self.cursor.fetchone()
        return created or 0, updated or 0, distinct or 0

    def estimate_writes(self, rows: int, sample_rows: int = 10_000) -> int:
        """How many of the `rows` would create or change a product (the others equal the
        stored product and are not rewritten), estimated from a sample of about
        `sample_rows` of them; all of them are compared when there are fewer."""
        percent = 100.0 * sample_rows / max(rows, 1)
        if percent < 100:
            # Whole pages at random: cheap, and rows of a page are neighbours in the file.
            self.cursor.execute(self._sql.estimate(f" TABLESAMPLE SYSTEM ({percent:.4f})"))
            compared, writes = self.cursor.fetchone()
            if compared:
                return round(rows * writes / compared)
        self.cursor.execute(self._sql.estimate(""))  # small, or the sample missed
        return self.cursor.fetchone()[1]

    def _on_row_range(self, sql: str, params: list) -> None:
        # The staged table has no statistics: without this the planner reads all of it for
        # any range, once per batch (measured: ~30 full scans of a 500k-row file).
        with planner_setting(self.cursor.db.alias, "enable_seqscan", "off"):
            self.cursor.execute(sql, params)


@dataclass(frozen=True)
class MergePlan:
    """How a bulk merge writes: `insert_only` (see StagedProducts.write) and whether the
    secondary indexes are suspended meanwhile."""

    insert_only: bool
    indexes_suspended: bool


def _noop(line: str) -> None:
    pass


@contextlib.contextmanager
def bulk_merge(
    staged: StagedProducts,
    rows: int,
    *,
    log: Callable[[str], None] = _noop,
    shield: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Iterator[MergePlan]:
    """Prepare the catalog for merging `rows` staged rows, batch by batch, in the block.

    A merge that writes a large share of the catalog suspends the secondary indexes and
    builds them again when the block ends, by any exit (`bulk_load`; `shield` protects the
    rebuild, a job passes ctx.uninterruptible). Rows equal to their product are not written,
    so only the others count: from PRODUCT_BULK_LOAD_MIN_ROWS rows on (below it bulk_load
    declines anyway) they are estimated from a sample. Into an empty catalog the batches
    are plain INSERTs (`MergePlan.insert_only`).
    """
    few = rows < settings.PRODUCT_BULK_LOAD_MIN_ROWS
    writes = rows if few else staged.estimate_writes(rows)
    with bulk_load(writes, log=log, shield=shield) as suspended:
        yield MergePlan(insert_only=not Product.objects.exists(), indexes_suspended=suspended)
