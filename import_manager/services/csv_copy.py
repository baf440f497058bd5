"""The CSV fast path: the file's bytes go to PostgreSQL's own CSV parser through COPY.

Reading 500k records with Python's csv module and sending them row by row costs ~2.5 s of
one core; streaming the raw bytes into `COPY … (FORMAT csv)` costs ~1 s, most of it in the
database's C parser. It applies to a well-formed file only: PostgreSQL refuses a COPY at
the first record with the wrong number of fields, bytes that are not UTF-8, a NUL or a
blank line. Then the importer empties the staging table and reads the file again row by
row, which reports each such record with its row number and goes on.

The file goes in as parts of about `part_bytes`, each cut at the end of a record and
committed on its own, so that another connection can validate a part while the next one
is being copied (`on_part`): the COPY keeps one core busy, the checks the other.

Both paths stage the same rows: records numbered from 1 in file order, rows whose fields
are all empty dropped (their numbers are not reused), an empty field NULL or '' (the
validation treats both as empty).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import psycopg
from django.db import transaction

from .columns import ColumnMap, python_checked

logger = logging.getLogger(__name__)

QUOTE = b'"'
BLOCK_BYTES = 1024 * 1024  # read from the file at a time (at most a part)


class _Cancelled(Exception):
    pass


class _Refused(Exception):
    pass


def copy_csv_file(
    reader,
    columns: ColumnMap,
    stage,
    chunk_rows: int,
    report: Callable[[float], bool],
    log,
    *,
    part_bytes: int,
    on_part: Callable[[int, int], None] | None = None,
):
    """Stage a CSV file (one `can_copy_csv` accepts) through COPY; returns [(first row,
    last row, rows)] per chunk of `chunk_rows` row numbers, [] when a cancel stopped it, or
    None when PostgreSQL refused the file. After [] or None the staging table may hold the
    parts committed so far: the caller empties or drops it.

    `report(fraction of the file sent)` is called as it goes and returns True to cancel.
    `on_part(after_row, upto_row)` is called with the row numbers of each committed part.
    """
    file_columns: list[str | None] = [None] * columns.width
    for name, position in zip(columns.columns, columns.positions, strict=True):
        file_columns[position] = name
    targets = stage.csv_targets(file_columns)
    staged = 0
    try:
        blocks = reader.data_blocks(min(part_bytes, BLOCK_BYTES))
        for part in record_parts(blocks, part_bytes):
            with transaction.atomic():
                with stage.copy_csv(targets, reader.delimiter) as copy:
                    for block in part:
                        copy.write(block)
                        if report(reader.fraction()):
                            raise _Cancelled
                stage.delete_empty_rows(targets, staged)
                last = stage.last_row_no()
            # So that the next part's statements (and the check of this one) read only
            # their own pages.
            stage.summarize_row_index()
            if on_part is not None:
                on_part(staged, last)
            staged = last
        return stage.chunk_bounds(chunk_rows)
    except _Cancelled:
        return []
    except _Refused as exc:
        log(f"{exc}; reading it row by row.")
        return None
    except psycopg.errors.DataError as exc:
        reason = str(exc).splitlines()[0]
        log(f"PostgreSQL's CSV reader refused the file ({reason}); reading it row by row.")
        return None


def record_parts(blocks: Iterable[bytes], part_bytes: int) -> Iterator[list[bytes]]:
    """Regroup raw CSV blocks into parts of about `part_bytes`, each ending at the end of a
    record: a newline after an even number of quote characters. That is PostgreSQL's own
    rule for where a CSV record ends (quote and escape both `"`), so each part is a COPY of
    whole records. A record longer than a part simply makes its part longer.

    Raises _Refused at a line holding only `\\.`, which PostgreSQL before 18 takes for the
    end of the data even in CSV (the rest of the file would be dropped without a word).
    """
    part: list[bytes] = []
    size = 0
    odd = False  # inside a quoted field at the end of `part`
    for block in blocks:
        # Data starts after the header line, and a part ends with a newline.
        _refuse_end_marker(part[-1][-2:] if part else b"\n", block)
        if size + len(block) >= part_bytes and (cut := _record_end(block, odd)) is not None:
            part.append(block[:cut])
            yield part
            block = block[cut:]
            part, size, odd = [], 0, False
        if block:
            part.append(block)
            size += len(block)
            odd ^= bool(block.count(QUOTE) & 1)
    if part:
        yield part


def _refuse_end_marker(before: bytes, block: bytes) -> None:
    # `before`: the last two bytes preceding `block`, so a marker split by the block
    # boundary is found too.
    text = before + block
    start = 0
    while (found := text.find(b"\n\\.", start)) != -1:
        if text[found + 3 : found + 4] in (b"", b"\n", b"\r"):
            raise _Refused("A line holds only \\. (PostgreSQL's end-of-data marker)")
        start = found + 1


def _record_end(block: bytes, odd: bool) -> int | None:
    """Offset just after the last newline of `block` that ends a record (None: none does),
    `odd` telling whether the block starts inside a quoted field."""
    newline = block.rfind(b"\n")
    if newline == -1:
        return None
    quotes = odd + block.count(QUOTE, 0, newline)  # quote characters before `newline`
    while newline != -1:
        if quotes % 2 == 0:
            return newline + 1
        previous = block.rfind(b"\n", 0, newline)
        quotes -= block.count(QUOTE, previous + 1, newline)
        newline = previous
    return None


def can_copy_csv(reader, columns: ColumnMap) -> bool:
    """Whether the fast path may try this file: a CSV whose header is its first line, with
    no column that needs Python's checks (JSON objects and URL lists, importer._fixers)."""
    return getattr(reader, "data_offset", None) is not None and not python_checked(columns.columns)
