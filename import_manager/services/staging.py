# ruff: noqa: S608 - SQL is built from constants and a validated table name, never from input
"""The staging table of one import: COPY the file in, validate it set-based, hand it over.

Rows arrive as text exactly as the file had them, numbered (`row_no`) in file order.
PostgreSQL then does the work set-based:

1. `COPY` streams every record into an UNLOGGED staging table (no WAL; private to the
   import by its name);
2. an `UPDATE` flags the bad rows (missing SKU, non-numeric price, unknown boolean, ...)
   with the column and a message — far cheaper than checking 500,000 rows in Python. The
   checks follow each column's kind and limits in the product's column contract
   (`product.columns`). They are the costly part (about 5 µs a row), so the importer
   spreads them over its connections: by ranges of row numbers while the file is still
   being copied in (`flag_invalid_rows`, one committed part of a CSV file at a time), or by
   ranges of the table's pages once it is all there (`flag_invalid`, a TID range scan each);
   then one more `UPDATE` marks every valid row that a later valid row of the same SKU
   (window `max(row_no) OVER (PARTITION BY lower(sku))`) supersedes, across the whole file,
   so only the last row of each SKU (the "winner") is written;
3. a BRIN index on `row_no` (rows are stored roughly in file order) lets a statement find
   a range of rows, a part of the file or a batch, without reading the whole table;
4. the winners go to the product app (`products()`: a `product.services.merge.
   StagedProducts`), which owns the statements writing the product table: per batch of
   rows one `INSERT … SELECT … ON CONFLICT (lower(sku)) DO UPDATE`.
"""

from __future__ import annotations

import re

from core.services.planner import planner_setting
from product.columns import (
    BY_NAME,
    FALSE_WORDS,
    MONEY_MAX,
    MONEY_PLACES,
    TRUE_WORDS,
    Column,
    Kind,
)
from product.services.merge import StagedProducts

from .columns import KNOWN_COLUMNS

NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
INTEGER_RE = r"^[+-]?[0-9]+$"
INTEGER_RANGE = (-2147483648, 2147483647)  # PostgreSQL integer
STAGE_NAME_RE = re.compile(r"^import_stage_[0-9a-f]{32}$")
#: The staged rows the catalog gets: valid, and the last of their SKU in the file.
WINNERS = "err_message IS NULL AND NOT superseded"


def _words(words) -> str:
    return "(" + ", ".join(f"'{word}'" for word in words) + ")"


def _t(column: str) -> str:
    """The trimmed value, NULL when empty."""
    return f"nullif(btrim({column}), '')"


def _problem(column: str, message: str, with_value: bool = True) -> str:
    value = f"left({column}, 200)" if with_value else "NULL"
    return f"ARRAY['{column}', '{message}', {value}]"


def _present(columns, *kinds: Kind) -> list[Column]:
    """The contract's columns among `columns` (in the file format's order), of those kinds."""
    wanted = set(columns)
    present = [BY_NAME[name] for name in KNOWN_COLUMNS if name in wanted]
    return [c for c in present if c.kind in kinds] if kinds else present


def _reads_trimmed(column: Column) -> bool:
    """Whether a check looks at the column's trimmed value (`<c>_t`)."""
    if column.kind is Kind.TEXT:
        return not column.blank or column.max_length is not None
    return column.kind in (Kind.MONEY, Kind.INTEGER, Kind.BOOLEAN, Kind.CURRENCY)


def _check_inputs(columns) -> list[str]:
    """SELECT list computing, once per row, what the checks (`_checks`) look at.

    PostgreSQL evaluates an expression as often as it is written (no common
    subexpressions), and the regular expressions and casts are most of the cost of
    validating (~8 µs a row), so each value is trimmed, matched and cast here once:
    `<c>` the staged text, `<c>_t` trimmed (NULL when empty), `<c>_n` the number (NULL when
    not one). Numbers are cast to numeric, which cannot overflow, so the checks can tell
    "not a number" from "out of range".
    """
    numbers = {Kind.MONEY: NUMBER_RE, Kind.INTEGER: INTEGER_RE}
    present = _present(columns)
    inputs = ["ctid AS tid", *(c.name for c in present)]
    for column in present:
        name = column.name
        if _reads_trimmed(column):
            inputs.append(f"{_t(name)} AS {name}_t")
        if column.kind in numbers:
            inputs.append(
                f"CASE WHEN btrim({name}) ~ '{numbers[column.kind]}'"
                f" THEN btrim({name})::numeric END AS {name}_n"
            )
    return inputs


def _required(column: Column) -> list[str]:
    if column.blank:
        return []
    return [f"WHEN {column.name}_t IS NULL THEN {_problem(column.name, 'is required', False)}"]


def _too_long(column: Column) -> list[str]:
    name, limit = column.name, column.max_length
    if limit is None:
        return []
    return [
        f"WHEN length({name}_t) > {limit} "
        f"THEN {_problem(name, f'is longer than {limit} characters')}"
    ]


def _checks(columns) -> list[str]:
    """`WHEN … THEN ARRAY[column, message, value]` clauses for the columns present, over
    the values `_check_inputs` computes. A row gets the first problem found, in this order:
    required texts, money, booleans, currency, whole numbers, optional texts, bad bytes."""
    texts = _present(columns, Kind.TEXT)
    clauses = []
    for column in texts:
        if not column.blank:
            clauses += _required(column) + _too_long(column)
    for column in _present(columns, Kind.MONEY):
        name = column.name
        clauses += _required(column)
        clauses += [
            f"WHEN {name}_t IS NOT NULL AND {name}_n IS NULL "
            f"THEN {_problem(name, 'is not a number')}",
            f"WHEN round({name}_n, {MONEY_PLACES}) > {MONEY_MAX} "
            f"THEN {_problem(name, f'is too large (at most {MONEY_MAX})')}",
            f"WHEN {name}_n < 0 THEN {_problem(name, 'must not be negative')}",
        ]
    for column in _present(columns, Kind.BOOLEAN):
        name = column.name
        clauses += _required(column)
        clauses.append(
            f"WHEN lower({name}_t) NOT IN {_words(TRUE_WORDS + FALSE_WORDS)} "
            f"THEN {_problem(name, 'is not a boolean (use true/false, yes/no or 1/0)')}"
        )
    for column in _present(columns, Kind.CURRENCY):
        clauses.append(
            f"WHEN upper({column.name}_t) !~ '^[A-Z]{{3}}$' "
            f"THEN {_problem(column.name, 'is not a 3-letter currency code')}"
        )
    low, high = INTEGER_RANGE
    for column in _present(columns, Kind.INTEGER):
        name = column.name
        clauses += [
            f"WHEN {name}_t IS NOT NULL AND {name}_n IS NULL "
            f"THEN {_problem(name, 'is not a whole number')}",
            f"WHEN {name}_n NOT BETWEEN {low} AND {high} THEN {_problem(name, 'is out of range')}",
        ]
    for column in texts:
        if column.blank:
            clauses += _too_long(column)
    # One strpos per column: concatenating them first would copy every row's text.
    replaced = " OR ".join(f"strpos({c.name}, U&'\\FFFD') > 0" for c in texts)
    clauses.append(
        f"WHEN {replaced} THEN ARRAY['', "
        "'contains bytes that are not valid UTF-8, or a NUL character', NULL]"
    )
    return clauses


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

    # -- into the catalog ----------------------------------------------------------------
    def products(self) -> StagedProducts:
        """The winners (valid, last of their SKU), for the product service to merge."""
        return StagedProducts(self.cursor, self.name, self.columns, rows=WINNERS)

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
