"""Staging tables of the bulk code jobs: rows go in through COPY, come out through COPY.

A job's rows live in an unlogged table named after its batch (`codes_stage_<batch id>`), not
a temporary one: it survives the job's connection, so a re-run after a lost worker finds
it, and it is dropped when the job ends (`drop_batch_tables`, also on `job_finished`, so a
job failed by the recovery leaves nothing behind). Set-based SQL then checks and applies
all rows at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import psycopg
from django.db import DataError, connection, transaction

from core.services.paths import open_output

#: Rows per COPY write (about a megabyte of text).
COPY_CHUNK_ROWS = 20_000
_NAME_RE = re.compile(r"^codes_stage_[0-9]+(_[a-z]+)?$")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value) -> str:
    """One field in COPY's text format (None is NULL)."""
    if value is None:
        return "\\N"
    text = value if type(value) is str else str(value)
    return text.translate(_ESCAPES)


def raw_cursor(cursor):
    """psycopg's own cursor behind Django's wrapper (for COPY)."""
    return cursor.cursor if hasattr(cursor, "cursor") else cursor


#: Bytes of a file per COPY write when a CSV file is copied as it is.
BLOCK_BYTES = 1 << 20
# PostgreSQL before 18 ends the data at a line holding only \. even in CSV: the rest of the
# file would be lost without a word.
_END_MARKERS = (b"\n\\.\n", b"\n\\.\r")


class _Refused(Exception):
    pass


def copy_csv_as_is(table: str, names: Sequence[str], reader, on_fraction, *, quotes=True) -> bool:
    """COPY a CSV file's data bytes as they are into `table` (`names`: its columns, in the
    file's order), in a transaction of its own. False, with nothing copied, when PostgreSQL
    refuses them or might read them otherwise than Python's csv (an end-of-data marker; with
    `quotes=False`, any quote: PostgreSQL opens a quoted section anywhere in a field, Python's
    csv only at its start)."""
    delimiter = reader.delimiter.replace("'", "''")
    statement = (
        f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv, DELIMITER '{delimiter}')"
    )
    try:
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            raw_cursor(cursor).copy(statement) as copy,
        ):
            previous = b"\n"
            for block in reader.data_blocks(BLOCK_BYTES):
                if (not quotes and b'"' in block) or any(
                    marker in previous[-2:] + block for marker in _END_MARKERS
                ):
                    raise _Refused()
                copy.write(block)
                previous = block
                on_fraction(reader.fraction())
            if previous.endswith(b"\\.") and previous[-3:-2] in (b"\n", b""):
                raise _Refused()
    except (_Refused, psycopg.DataError, DataError):
        return False
    return True


class Stage:
    """One staging table: `columns` are (name, SQL type) pairs; `row_no` comes first."""

    def __init__(self, name: str, columns: Sequence[tuple[str, str]]):
        if not _NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a staging table name.")
        self.name = name
        self.columns = list(columns)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def create(self) -> None:
        """(Re)create the table, empty."""
        definition = ", ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            cursor.execute(f"CREATE UNLOGGED TABLE {self.name} ({definition})")

    def exists(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [self.name])
            return cursor.fetchone()[0]

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")

    def copy_in(self, rows: Iterable[Sequence], *, on_chunk=None) -> int:
        """COPY `rows` (tuples in column order) into the table; returns how many.

        `on_chunk(rows so far)` is called after each chunk (progress, cancel checks).
        """
        columns = ", ".join(self.column_names)
        count = 0
        with (
            connection.cursor() as cursor,
            raw_cursor(cursor).copy(f"COPY {self.name} ({columns}) FROM STDIN") as copy,
        ):
            lines = []
            for row in rows:
                lines.append("\t".join(map(copy_text, row)))
                if len(lines) >= COPY_CHUNK_ROWS:
                    copy.write("\n".join(lines) + "\n")
                    count += len(lines)
                    lines = []
                    if on_chunk is not None:
                        on_chunk(count)
            if lines:
                copy.write("\n".join(lines) + "\n")
                count += len(lines)
        return count

    def index(self, *expressions: str, unique: bool = False) -> None:
        suffix = "_".join(re.sub(r"\W+", "", expression) for expression in expressions)[:30]
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE {'UNIQUE ' if unique else ''}INDEX {self.name}_{suffix} "
                f"ON {self.name} ({', '.join(expressions)})"
            )
            cursor.execute(f"ANALYZE {self.name}")


def copy_out(query: str, params: Sequence | dict | None, path: Path) -> Path:
    """Write the rows of `query` to the CSV file `path` (with a header), streamed."""
    with (
        open_output(path, "wb") as handle,
        connection.cursor() as cursor,
        raw_cursor(cursor).copy(
            f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", params
        ) as copy,
    ):
        for block in copy:
            handle.write(block)
    return path


def drop_batch_tables(batch_id: int) -> None:
    """Drop every staging table of the batch (`codes_stage_<id>` and its `_<suffix>` ones)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND (tablename = %s OR tablename LIKE %s)",
            [f"codes_stage_{batch_id}", f"codes\\_stage\\_{batch_id}\\_%"],
        )
        for (name,) in cursor.fetchall():
            if _NAME_RE.match(name):
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
