"""The CSV fast path in parts: cut at record ends, each part validated while the next copies."""

import csv
import io
import itertools
import random
import threading

import pytest

from import_manager.services import importer
from import_manager.services.csv_copy import _Refused, record_parts
from import_manager.services.importer import ImportOptions, import_catalog_file
from product.models import Product

from .helpers import FakeCtx, catalog, write_csv

FALLBACK = "reading it row by row"


def records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def blocks_of(data: bytes, rng: random.Random):
    at = 0
    while at < len(data):
        size = rng.randrange(1, 40)
        yield data[at : at + size]
        at += size


def test_parts_end_at_record_ends_even_with_quoted_newlines_and_doubled_quotes():
    rng = random.Random(7)
    rows = []
    for i in range(300):
        text = rng.choice(["plain", "two\nlines", 'say ""hi""\nthen\r\nleave', '"', "a,b"])
        rows.append([f"S-{i}", text, str(i)])
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    data = buffer.getvalue().encode()

    parts = [b"".join(part) for part in record_parts(blocks_of(data, rng), part_bytes=200)]

    assert b"".join(parts) == data
    assert len(parts) > 10
    # Each part holds whole records: parsed apart, they give the file's records.
    assert [record for part in parts for record in records(part)] == rows


def test_a_record_longer_than_a_part_makes_its_part_longer():
    data = b'A,"' + b"x\n" * 500 + b'",1\nB,y,2\n'
    blocks = [data[i : i + 64] for i in range(0, len(data), 64)]
    parts = [b"".join(p) for p in record_parts(blocks, 100)]
    assert b"".join(parts) == data
    assert records(parts[0])[0][0] == "A"


@pytest.mark.parametrize(
    "data",
    [b"\\.\nA,b,1\n", b"A,b,1\n\\.\nB,c,2\n", b"A,b,1\r\n\\.\r\nB,c,2\r\n", b"A,b,1\n\\."],
)
def test_a_line_holding_only_the_end_of_data_marker_is_refused_even_across_blocks(data):
    with pytest.raises(_Refused):
        for _ in record_parts([data[i : i + 3] for i in range(0, len(data), 3)], 4):
            pass


def test_a_backslash_dot_inside_a_line_is_just_data():
    data = b"A,\\.x,1\nB,x\\.,2\n"
    assert b"".join(b"".join(p) for p in record_parts([data], 4)) == data


def bad_and_repeated_rows(count: int) -> list[list[str]]:
    rows = []
    for i in range(count):
        price = "n/a" if i % 97 == 5 else f"{i % 50}.5"
        sku = f"r-{i - 3}" if i % 101 == 100 else f"R-{i}"  # repeats a recent SKU
        description = 'a "quoted"\nline' if i % 13 == 0 else "plain"
        rows.append([sku, f"Name {i}", description, price, "true"])
    return rows


@pytest.fixture
def checked_parts(monkeypatch):
    """The row ranges handed to the side connection, recorded as they are checked."""
    checked = []
    check = importer._check_part

    def recording(stage, after_row, upto_row):
        checked.append((after_row, upto_row))
        check(stage, after_row, upto_row)

    monkeypatch.setattr(importer, "_check_part", recording)
    return checked


@pytest.mark.django_db(transaction=True)
def test_parts_validated_on_a_side_connection_give_the_same_import_as_one_connection(
    tmp_path, checked_parts
):
    rows = bad_and_repeated_rows(2500)
    path = write_csv(tmp_path / "p.csv", rows)

    ctx = FakeCtx()
    parted = import_catalog_file(path, ctx, ImportOptions(csv_part_bytes=3000, max_errors=100))
    assert not [line for line in ctx.lines if FALLBACK in line]
    # Many parts, each checked once, together every row.
    ranges = sorted(checked_parts)
    assert len(ranges) > 20
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert ranges[0][0] == 0 and ranges[-1][1] == 2500
    parted_catalog = catalog()
    Product.objects.all().delete()
    whole = import_catalog_file(path, FakeCtx(), ImportOptions(writers=1, max_errors=100))

    bad = [i + 1 for i in range(2500) if i % 97 == 5]
    assert [e["row"] for e in parted["errors"]] == bad == [e["row"] for e in whole["errors"]]
    for key in ("processed_rows", "error_count", "created", "updated"):
        assert parted[key] == whole[key], key
    assert parted_catalog == catalog()
    assert catalog()["R-13"][1] == 'a "quoted"\nline'
    assert catalog()["r-97"][0] == "Name 100"  # the later row of that SKU won


@pytest.mark.django_db(transaction=True)
def test_a_file_refused_after_some_parts_were_staged_and_checked_is_read_again_whole(
    tmp_path, checked_parts
):
    rows = bad_and_repeated_rows(1200)
    path = write_csv(tmp_path / "p.csv", rows)
    with path.open("a") as handle:  # a record PostgreSQL refuses, parts after the start
        handle.write("LATE-1,Late,,1,true,extra\nLATE-2,Late 2,,2,true\n")
    ctx = FakeCtx()
    result = import_catalog_file(path, ctx, ImportOptions(csv_part_bytes=2000, max_errors=100))

    assert len([line for line in ctx.lines if FALLBACK in line]) == 1
    assert len(checked_parts) > 5  # parts were staged and checked before the refusal
    bad = [i + 1 for i in range(1200) if i % 97 == 5]
    assert [e["row"] for e in result["errors"]] == [*bad, 1201]
    assert result["processed_rows"] == 1202
    assert Product.objects.count() == result["created"]
    assert Product.objects.filter(sku="LATE-2").exists()


@pytest.mark.django_db
def test_a_line_holding_only_the_end_of_data_marker_loses_nothing_after_it(tmp_path):
    # PostgreSQL before 18 stops a CSV COPY at such a line: the row-by-row path reads on.
    path = write_csv(tmp_path / "p.csv", [["E-1", "One", "", "1", "true"]])
    with path.open("a") as handle:
        handle.write("\\.\nE-2,Two,,2,true\n")
    ctx = FakeCtx()
    result = import_catalog_file(path, ctx, ImportOptions())

    assert [line for line in ctx.lines if FALLBACK in line]
    assert set(catalog()) == {"E-1", "E-2"}
    assert [(e["row"], e["message"]) for e in result["errors"]] == [
        (2, "has 1 fields; the header has 5")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_cancel_while_parts_are_being_copied_and_checked_writes_nothing_and_cleans_up(
    tmp_path, checked_parts
):
    from django.db import connection

    from core.exceptions import JobCancelled

    path = write_csv(tmp_path / "p.csv", bad_and_repeated_rows(2500))

    class CancelDuringStaging(FakeCtx):
        calls = 0

        def cancel_requested(self):
            self.calls += 1
            return self.calls > 8  # some parts in

    with pytest.raises(JobCancelled):
        import_catalog_file(path, CancelDuringStaging(), ImportOptions(csv_part_bytes=3000))

    assert checked_parts  # parts had been handed to the side connection
    assert Product.objects.count() == 0
    assert not [t for t in threading.enumerate() if t.name == "side-connection"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'import_stage_%%'")
        assert cursor.fetchone()[0] == 0
