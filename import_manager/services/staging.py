# ruff: noqa: S608 - SQL is built from constants and a validated table name, never from input
"""The staging table of one import: COPY the file in, validate it set-based, upsert it.

Rows arrive as text exactly as the file had them, numbered (`row_no`) in file order.
PostgreSQL then does the work set-based:

1. `COPY` streams every record into an UNLOGGED staging table (no WAL; private to the
   import by its name);
2. an `UPDATE` flags the bad rows (missing SKU, non-numeric price, unknown boolean, ...)
   with the column and a message — far cheaper than checking 500,000 rows in Python. These
   checks are the costly part (about 5 µs a row), so the importer spreads them over its
   connections: by ranges of row numbers while the file is still being copied in
   (`flag_invalid_rows`, one committed part of a CSV file at a time), or by ranges of the
   table's pages once it is all there (`flag_invalid`, a TID range scan each);
   then one more `UPDATE` marks every valid row that a later valid row of the same SKU
   (window `max(row_no) OVER (PARTITION BY lower(sku))`) supersedes, across the whole file,
   so only the last row of each SKU (the "winner") is written;
3. a BRIN index on `row_no` (rows are stored roughly in file order) lets a statement find
   a range of rows, a part of the file or a batch, without reading the whole table;
4. per batch of file rows, one `INSERT … SELECT … ON CONFLICT (lower(sku)) DO UPDATE` writes
   the winners of that row range. A SKU is written once per import, by its last row, so the
   created/updated figures count products, and rows equal to the stored product are not
   rewritten at all.

Only the columns the file has are written on update; for new products the other columns
get the model's defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.services.planner import planner_setting

from .columns import KNOWN_COLUMNS

NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
INTEGER_RE = r"^[+-]?[0-9]+$"
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off")
MAX_MONEY = "1e10"  # NUMERIC(12, 2)
TEXT_LIMITS = {"sku": 255, "name": 500, "category": 255}
STAGE_NAME_RE = re.compile(r"^import_stage_[0-9a-f]{32}$")
PRODUCT_TABLE = "product_product"


def _words(words) -> str:
    return "(" + ", ".join(f"'{word}'" for word in words) + ")"


def _t(column: str) -> str:
    """The trimmed value, NULL when empty."""
    return f"nullif(btrim({column}), '')"


def _problem(column: str, message: str, with_value: bool = True) -> str:
    value = f"left({column}, 200)" if with_value else "NULL"
    return f"ARRAY['{column}', '{message}', {value}]"


#: Columns whose trimmed value the checks use, and those that must be numbers.
CHECKED_TEXTS = ("sku", "name", "category", "currency", "is_active")
MONEY_COLUMNS = ("price", "compare_at_price", "cost")


def _check_inputs(columns) -> list[str]:
    """SELECT list computing, once per row, what the checks (`_checks`) look at.

    PostgreSQL evaluates an expression as often as it is written (no common
    subexpressions), and the regular expressions and casts are most of the cost of
    validating (~8 µs a row), so each value is trimmed, matched and cast here once:
    `<c>` the staged text, `<c>_t` trimmed (NULL when empty), `<c>_n` the number (NULL when
    not one). Numbers are cast to numeric, which cannot overflow, so the checks can tell
    "not a number" from "out of range".
    """
    numbers = {**dict.fromkeys(MONEY_COLUMNS, NUMBER_RE), "stock_quantity": INTEGER_RE}
    wanted = set(columns)
    present = [c for c in KNOWN_COLUMNS if c in wanted]
    inputs = ["ctid AS tid", *present]
    for name in present:
        if name in CHECKED_TEXTS or name in numbers:
            inputs.append(f"{_t(name)} AS {name}_t")
        if name in numbers:
            inputs.append(
                f"CASE WHEN btrim({name}) ~ '{numbers[name]}'"
                f" THEN btrim({name})::numeric END AS {name}_n"
            )
    return inputs


def _checks(columns) -> list[str]:
    """`WHEN … THEN ARRAY[column, message, value]` clauses for the columns present, over
    the values `_check_inputs` computes."""
    present = set(columns)
    clauses = []
    for name in ("sku", "name"):
        clauses.append(f"WHEN {name}_t IS NULL THEN {_problem(name, 'is required', False)}")
        limit = TEXT_LIMITS[name]
        clauses.append(
            f"WHEN length({name}_t) > {limit} "
            f"THEN {_problem(name, f'is longer than {limit} characters')}"
        )
    for name in MONEY_COLUMNS:
        if name not in present:
            continue
        if name == "price":
            clauses.append(f"WHEN {name}_t IS NULL THEN {_problem(name, 'is required', False)}")
        clauses += [
            f"WHEN {name}_t IS NOT NULL AND {name}_n IS NULL "
            f"THEN {_problem(name, 'is not a number')}",
            f"WHEN round({name}_n, 2) >= {MAX_MONEY} "
            f"THEN {_problem(name, 'is too large (at most 9999999999.99)')}",
            f"WHEN {name}_n < 0 THEN {_problem(name, 'must not be negative')}",
        ]
    clauses += [
        f"WHEN is_active_t IS NULL THEN {_problem('is_active', 'is required', False)}",
        f"WHEN lower(is_active_t) NOT IN {_words(TRUE_WORDS + FALSE_WORDS)} "
        f"THEN {_problem('is_active', 'is not a boolean (use true/false, yes/no or 1/0)')}",
    ]
    if "currency" in present:
        clauses.append(
            f"WHEN upper(currency_t) !~ '^[A-Z]{{3}}$' "
            f"THEN {_problem('currency', 'is not a 3-letter currency code')}"
        )
    if "stock_quantity" in present:
        clauses += [
            "WHEN stock_quantity_t IS NOT NULL AND stock_quantity_n IS NULL "
            f"THEN {_problem('stock_quantity', 'is not a whole number')}",
            "WHEN stock_quantity_n NOT BETWEEN -2147483648 AND 2147483647 "
            f"THEN {_problem('stock_quantity', 'is out of range')}",
        ]
    if "category" in present:
        clauses.append(
            f"WHEN length(category_t) > {TEXT_LIMITS['category']} "
            f"THEN {_problem('category', 'is longer than 255 characters')}"
        )
    # One strpos per column: concatenating them first would copy every row's text.
    replaced = " OR ".join(
        f"strpos({c}, U&'\\FFFD') > 0"
        for c in ("sku", "name", "description", "category")
        if c in present
    )
    clauses.append(
        f"WHEN {replaced} THEN ARRAY['', "
        "'contains bytes that are not valid UTF-8, or a NUL character', NULL]"
    )
    return clauses


def _value_sql(name: str) -> str:
    """SELECT expression turning the staged text of a valid row into the product value."""
    return {
        "sku": "btrim(sku)",
        "name": "btrim(name)",
        "description": "coalesce(description, '')",
        "price": "round(btrim(price)::numeric, 2)",
        "is_active": f"lower(btrim(is_active)) IN {_words(TRUE_WORDS)}",
        "compare_at_price": f"round({_t('compare_at_price')}::numeric, 2)",
        "cost": f"round({_t('cost')}::numeric, 2)",
        "currency": f"coalesce(upper({_t('currency')}), 'USD')",
        "stock_quantity": f"coalesce({_t('stock_quantity')}::integer, 0)",
        "category": "coalesce(btrim(category), '')",
        "attributes": "coalesce(nullif(attributes, '')::jsonb, '{}'::jsonb)",
        "image_urls": (
            "coalesce(ARRAY(SELECT jsonb_array_elements_text(nullif(image_urls, '')::jsonb)),"
            " '{}'::text[])"
        ),
    }[name]


#: Values of a new product for the optional columns a file does not have (model defaults).
DEFAULTS = {
    "compare_at_price": "NULL",
    "cost": "NULL",
    "currency": "'USD'",
    "stock_quantity": "0",
    "category": "''",
    "attributes": "'{}'::jsonb",
    "image_urls": "'{}'::text[]",
}


@dataclass
class BatchOutcome:
    flagged: int = 0  # rows the SQL validation rejected
    errors: list | None = None  # [(row_number, column, message, value)], at most `room`
    distinct: int = 0  # valid rows left after "last row of a SKU wins"
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class StagingTable:
    """One import's staging table. `columns`: the known columns the file has."""

    def __init__(self, cursor, name: str, columns):
        if not STAGE_NAME_RE.match(name):
            raise ValueError(f"bad staging table name {name!r}")
        self.cursor = cursor
        self.name = name
        self.columns = list(columns)
        self._flag_sql = self._build_flag()
        self._supersede_sql = self._build_supersede()
        self._upsert_sql = self._build_upsert()
        self._insert_sql = self._build_insert()
        self._predict_sql = self._build_predict()

    def bound_to(self, cursor) -> StagingTable:
        """The same staging table, used through another connection's cursor."""
        return StagingTable(cursor, self.name, self.columns)

    # -- lifecycle -----------------------------------------------------------------------
    def create(self) -> None:
        columns = ", ".join(f"{name} text" for name in KNOWN_COLUMNS)
        self.cursor.execute(
            # row_no: given by the row-by-row path, numbered by PostgreSQL in file order on
            # the CSV fast path (see csv_copy.py).
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {self.name}"
            f" (row_no bigint GENERATED BY DEFAULT AS IDENTITY, {columns}, "
            "err_column text, err_message text, err_value text,"
            " superseded boolean NOT NULL DEFAULT false)"
            " WITH (autovacuum_enabled = false)"
        )
        # Maintained as rows arrive, so a range of rows is found by its summaries even
        # when PostgreSQL put a row in free space of an earlier page.
        self.cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {self.name}_row_no ON {self.name}"
            " USING brin (row_no) WITH (pages_per_range = 32)"
        )

    def drop(self) -> None:
        self.cursor.execute(f"DROP TABLE IF EXISTS {self.name}")

    def copy(self, extra_columns=()):
        """A psycopg COPY context for rows `(row_no, *values in columns order, *extra)`."""
        names = ", ".join(["row_no", *self.columns, *extra_columns])
        return self.cursor.copy(f"COPY {self.name} ({names}) FROM STDIN")

    def csv_targets(self, file_columns: list[str | None]) -> list[str]:
        """The staging column of each field of the file (`file_columns[i]`: the known
        column of field i, None to keep it aside in a column added for it)."""
        targets = []
        for index, name in enumerate(file_columns):
            if name is None:
                name = f"skip_{index}"
                self.cursor.execute(f"ALTER TABLE {self.name} ADD COLUMN IF NOT EXISTS {name} text")
            targets.append(name)
        return targets

    def copy_csv(self, targets: list[str], delimiter: str):
        """A psycopg COPY context taking the file's data lines as they are (PostgreSQL's
        CSV parser) into the `targets` columns (see csv_targets)."""
        quoted = {",": "','", ";": "';'", "\t": "E'\\t'", "|": "'|'"}[delimiter]
        return self.cursor.copy(
            f"COPY {self.name} ({', '.join(targets)}) FROM STDIN"
            f" WITH (FORMAT csv, DELIMITER {quoted})"
        )

    def delete_empty_rows(self, targets: list[str], after_row: int = 0) -> None:
        """Rows (after `after_row`) whose every field is empty are not records
        (spreadsheets keep many). Only a row without a SKU can be one: that is tested first."""
        self._on_row_range(
            f"DELETE FROM {self.name} WHERE row_no > %s AND (sku IS NULL OR sku = '')"
            f" AND concat({', '.join(targets)}) = ''",
            [after_row],
        )

    def last_row_no(self) -> int:
        """The highest row number PostgreSQL has given a staged row (0: none yet)."""
        self.cursor.execute(
            "SELECT coalesce(last_value, 0) FROM pg_sequences"
            " WHERE schemaname || '.' || sequencename = pg_get_serial_sequence(%s, 'row_no')",
            [self.name],
        )
        return self.cursor.fetchone()[0]

    def clear(self) -> None:
        """Remove every staged row and start the row numbers again."""
        self.cursor.execute(f"TRUNCATE {self.name} RESTART IDENTITY")

    def chunk_bounds(self, chunk_rows: int) -> list[tuple[int, int, int]]:
        """(first row, last row, rows) of each run of `chunk_rows` row numbers staged."""
        self.cursor.execute(
            f"SELECT min(row_no), max(row_no), count(*) FROM {self.name}"
            f" GROUP BY (row_no - 1) / %s ORDER BY 1",
            [chunk_rows],
        )
        return self.cursor.fetchall()

    # -- whole file ----------------------------------------------------------------------
    def page_count(self) -> int:
        """Pages the staging table occupies (for splitting `flag_invalid` into parts)."""
        self.cursor.execute(
            "SELECT pg_relation_size(%s) / current_setting('block_size')::int", [self.name]
        )
        return self.cursor.fetchone()[0]

    def flag_invalid(self, first_page: int = 0, end_page: int | None = None) -> None:
        """Flag the bad rows stored in pages [first_page, end_page) (None: to the end)."""
        end = "" if end_page is None else f" AND ctid < '({int(end_page)},0)'::tid"
        self.cursor.execute(
            self._flag_sql.format(where=f"ctid >= '({int(first_page)},0)'::tid{end}")
        )

    def flag_invalid_rows(self, after_row: int, upto_row: int) -> None:
        """Flag the bad rows among rows (after_row, upto_row]."""
        self._on_row_range(
            self._flag_sql.format(where="row_no > %s AND row_no <= %s"), [after_row, upto_row]
        )

    def mark_superseded(self) -> int:
        """Mark each valid row that a later valid row of the same SKU (in any case)
        supersedes; returns how many rows were marked."""
        self.cursor.execute(self._supersede_sql)
        return self.cursor.fetchone()[0] or 0

    def errors_per_chunk(self, first_rows: list[int]) -> dict[int, int]:
        """Flagged rows per chunk of rows; chunk i (from 0) starts at row first_rows[i]."""
        if not first_rows:
            return {}
        self.cursor.execute(
            f"SELECT width_bucket(row_no, %s::bigint[]) - 1, count(*) FROM {self.name}"
            " WHERE err_message IS NOT NULL GROUP BY 1",
            [first_rows],
        )
        return dict(self.cursor.fetchall())

    def summarize_row_index(self) -> None:
        """Summarise the pages added since the BRIN index last did (rows copied in, new
        versions written by the validation), so a range of rows is read from its own pages:
        the index treats a range of pages it has not summarised as matching anything."""
        self.cursor.execute(
            "SELECT brin_summarize_new_values(%s::regclass)", [f"{self.name}_row_no"]
        )

    def flagged_rows(self, limit: int) -> list:
        """The first `limit` flagged rows: (row_number, column, message, value)."""
        if limit <= 0:
            return []
        self.cursor.execute(
            f"SELECT row_no, coalesce(err_column, ''), err_message, coalesce(err_value, '')"
            f" FROM {self.name} WHERE err_message IS NOT NULL ORDER BY row_no LIMIT %s",
            [limit],
        )
        return self.cursor.fetchall()

    # -- per batch -----------------------------------------------------------------------
    def upsert(self, after_row: int, upto_row: int) -> tuple[int, int, int]:
        """Write the winners among rows (after_row, upto_row]; returns (created, updated,
        winners in the range)."""
        self._on_row_range(self._upsert_sql, [after_row, upto_row])
        created, updated, distinct = self.cursor.fetchone()
        return created or 0, updated or 0, distinct or 0

    def insert(self, after_row: int, upto_row: int) -> int:
        """Plain INSERT of the winners among rows (after_row, upto_row], for a catalog that
        held none of their SKUs; returns how many were inserted.

        Without ON CONFLICT: speculative insertion costs a third more WAL and time (450k
        rows: 6.4 s against 4.0 s). A concurrent insert of one of these SKUs by someone else
        fails the statement with a unique violation; the caller then upserts the batch.
        """
        self._on_row_range(self._insert_sql, [after_row, upto_row])
        return self.cursor.rowcount

    def predict(self) -> tuple[int, int, int]:
        """Dry run: (would create, would update, winners), writing nothing."""
        self.cursor.execute(self._predict_sql)
        created, updated, distinct = self.cursor.fetchone()
        return created or 0, updated or 0, distinct or 0

    def estimate_writes(self, winners: int, sample_rows: int = 10_000) -> int:
        """How many of the `winners` would create or change a product (the rest equal
        the stored product and are not rewritten), estimated from a sample of about
        `sample_rows` of them; all of them are compared when there are fewer."""
        percent = 100.0 * sample_rows / max(winners, 1)
        if percent < 100:
            # Whole pages at random: cheap, and rows of a page are neighbours in the file.
            self.cursor.execute(self._build_estimate(f" TABLESAMPLE SYSTEM ({percent:.4f})"))
            compared, writes = self.cursor.fetchone()
            if compared:
                return round(winners * writes / compared)
        self.cursor.execute(self._build_estimate(""))  # small, or the sample missed
        return self.cursor.fetchone()[1]

    def _on_row_range(self, sql: str, params: list) -> None:
        """Run a statement over a range of row numbers through the BRIN index on row_no.

        The staging table is never analysed, and without statistics the planner reads the
        whole table for any range: once per batch and per part, i.e. the whole file over
        again each time (measured: ~30 full scans of a 500k-row file). Sequential scans are
        switched off for the statement alone.
        """
        with planner_setting(self.cursor.db.alias, "enable_seqscan", "off"):
            self.cursor.execute(sql, params)

    # -- SQL -----------------------------------------------------------------------------
    def _build_flag(self) -> str:
        # Rows are joined back by ctid: only the flagged ones are rewritten, each found by a
        # TID lookup. Each OFFSET 0 keeps its subquery from being merged into the one
        # above, which would compute the inputs once per use and the CASE twice. `{where}`
        # is filled in by flag_invalid (a TID range) or flag_invalid_rows (a row range).
        cases = "\n            ".join(_checks(self.columns)).replace("{", "{{").replace("}", "}}")
        inputs = ",\n          ".join(_check_inputs(self.columns)).replace("{", "{{")
        inputs = inputs.replace("}", "}}")
        return (
            f"UPDATE {self.name} AS s SET err_column = v.p[1], err_message = v.p[2],"
            f" err_value = v.p[3]\n"
            f"FROM (SELECT tid, CASE\n"
            f"            {cases}\n"
            f"        END AS p\n"
            f"      FROM (SELECT {inputs}\n"
            f"        FROM {self.name} WHERE {{where}} AND err_message IS NULL OFFSET 0) AS t\n"
            f"      OFFSET 0) AS v\n"
            f"WHERE s.ctid = v.tid AND v.p IS NOT NULL"
        )

    def _build_supersede(self) -> str:
        # COLLATE "C": under the (deterministic) database collation equal keys are equal
        # bytes too, and a bytewise sort is cheaper.
        return (
            f"WITH changed AS (\n"
            f"  UPDATE {self.name} AS s SET superseded = true\n"
            f"  FROM (SELECT ctid AS tid, row_no < max(row_no) OVER (PARTITION BY"
            f' lower(btrim(sku)) COLLATE "C") AS later\n'
            f"    FROM {self.name} WHERE err_message IS NULL OFFSET 0) AS c\n"
            f"  WHERE s.ctid = c.tid AND c.later\n"
            f"  RETURNING 1\n"
            f")\n"
            f"SELECT count(*) FROM changed"
        )

    def _winners_sql(self) -> str:
        return f"SELECT * FROM {self.name} WHERE err_message IS NULL AND NOT superseded"

    def _insert_values(self) -> tuple[list[str], list[str]]:
        """(product columns, SELECT expressions over the staged row) of a new product."""
        insert_columns = ["sku", "name", "description", "price", "is_active", *DEFAULTS]
        values = [
            _value_sql(name) if name in self.columns else DEFAULTS[name] for name in insert_columns
        ]
        return insert_columns, values

    def _build_insert(self) -> str:
        insert_columns, values = self._insert_values()
        return (
            f"INSERT INTO {PRODUCT_TABLE} (created_at, updated_at, {', '.join(insert_columns)})\n"
            f"SELECT now(), now(), {', '.join(values)}\n"
            f"FROM ({self._winners_sql()} AND row_no > %s AND row_no <= %s) AS latest"
        )

    def _overwritten(self) -> list[str]:
        """The columns an existing product takes from the file: only those the file has
        (the SKU among them: it takes the spelling of the last row)."""
        insert_columns, _ = self._insert_values()
        return [name for name in insert_columns if name in self.columns]

    def _differs(self, incoming: str) -> str:
        """Condition: the product `p` differs from the row `incoming` (a table alias with
        the product's column names) in a column the file overwrites."""
        updated = self._overwritten()
        current = ", ".join(f"p.{name}" for name in updated)
        other = ", ".join(f"{incoming}.{name}" for name in updated)
        return f"({current}) IS DISTINCT FROM ({other})"

    def _build_upsert(self) -> str:
        insert_columns, values = self._insert_values()
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in self._overwritten())
        return (
            f"WITH latest AS ({self._winners_sql()} AND row_no > %s AND row_no <= %s),\n"
            f"written AS (\n"
            f"  INSERT INTO {PRODUCT_TABLE} AS p (created_at, updated_at, "
            f"{', '.join(insert_columns)})\n"
            f"  SELECT now(), now(), {', '.join(values)} FROM latest\n"
            f"  ON CONFLICT (lower(sku)) DO UPDATE SET {assignments},"
            f" updated_at = EXCLUDED.updated_at\n"
            # Rewriting an identical row would churn every index for nothing.
            f"  WHERE {self._differs('EXCLUDED')}\n"
            f"  RETURNING (p.xmax = 0) AS created\n"
            f")\n"
            "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created),"
            " (SELECT count(*) FROM latest) FROM written"
        )

    def _build_estimate(self, sample: str) -> str:
        # The incoming values are computed in `l` under the product's column names, so the
        # comparison is the upsert's `IS DISTINCT FROM` and `lower(l.sku)` finds the product
        # through the unique index. `sample`: a TABLESAMPLE clause or "".
        value_of = dict(zip(*self._insert_values(), strict=True))
        selected = ", ".join(f"{value_of[name]} AS {name}" for name in self._overwritten())
        return (
            f"WITH l AS (SELECT {selected} FROM {self.name}{sample}"
            f" WHERE err_message IS NULL AND NOT superseded)\n"
            f"SELECT count(*), count(*) FILTER (WHERE p.id IS NULL OR {self._differs('l')})\n"
            f"FROM l LEFT JOIN {PRODUCT_TABLE} AS p ON lower(p.sku) = lower(l.sku)"
        )

    def _build_predict(self) -> str:
        return (
            f"SELECT count(*) FILTER (WHERE p.id IS NULL), count(p.id), count(*)"
            f" FROM ({self._winners_sql()}) AS l"
            f" LEFT JOIN {PRODUCT_TABLE} AS p ON lower(p.sku) = lower(btrim(l.sku))"
        )
