"""import_catalog_file, exercised directly: semantics of rows, SKUs, errors and formats."""

import threading
import time
from decimal import Decimal

import pytest

from import_manager.services.columns import ImportFileError
from import_manager.services.importer import ImportOptions, _Progress, import_catalog_file
from product.models import Product

from .helpers import (
    HEADER,
    FakeCtx,
    catalog,
    write_csv,
    write_json,
    write_jsonl,
    write_xlsx,
    write_xml,
)

pytestmark = pytest.mark.django_db

ROWS = [
    ["ABC-1", "Lamp", "A brass lamp", "19.90", "true"],
    ["XYZ-9", "Chair", "", "120", "false"],
    ["abc-1", "Lamp v2", "A brass lamp, again", "21.5", "yes"],
    ["Mug-7", "Mug", "Stoneware", "7.00", "1"],
]


def run(path, **options):
    ctx = FakeCtx()
    result = import_catalog_file(path, ctx, ImportOptions(**options))
    return result, ctx


def test_last_row_of_a_sku_wins_case_insensitively_within_one_file(tmp_path):
    result, _ = run(write_csv(tmp_path / "p.csv", ROWS))

    assert catalog() == {
        "abc-1": ("Lamp v2", "A brass lamp, again", "21.50", True),
        "XYZ-9": ("Chair", "", "120.00", False),
        "Mug-7": ("Mug", "Stoneware", "7.00", True),
    }
    assert result["total_rows"] == result["processed_rows"] == 4
    assert result["success_count"] == 4 and result["error_count"] == 0
    assert (result["created"], result["updated"]) == (3, 0)


def test_last_row_wins_across_batches(tmp_path):
    rows = [[f"S-{i}", f"first {i}", "", "1", "true"] for i in range(10)]
    rows += [[f"s-{i}", f"second {i}", "", "2", "false"] for i in range(10)]
    path = write_csv(tmp_path / "p.csv", rows)
    result, _ = run(path, batch_rows=7)

    state = catalog()
    assert len(state) == 10
    assert all(state[f"s-{i}"] == (f"second {i}", "", "2.00", False) for i in range(10))
    # Each SKU is written once, by its last row: no create-then-update across batches.
    assert (result["success_count"], result["created"], result["updated"]) == (20, 10, 0)
    again, _ = run(path, batch_rows=7)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 10)


def test_existing_sku_in_another_case_is_overwritten_not_duplicated(tmp_path):
    Product.objects.create(sku="ABC-1", name="Old", price=Decimal("1.00"), category="lights")
    result, _ = run(write_csv(tmp_path / "p.csv", [["abc-1", "New", "new", "2.50", "false"]]))

    product = Product.objects.get()
    assert (product.sku, product.name, product.price, product.is_active) == (
        "abc-1",
        "New",
        Decimal("2.50"),
        False,
    )
    assert product.category == "lights"  # a column the file does not have is left alone
    assert (result["created"], result["updated"]) == (0, 1)


def test_reimporting_the_same_file_changes_nothing_and_says_so(tmp_path):
    path = write_csv(tmp_path / "p.csv", ROWS)
    run(path)
    before = {p.sku: p.updated_at for p in Product.objects.all()}
    result, _ = run(path)

    assert (result["created"], result["updated"], result["unchanged"]) == (0, 0, 3)
    assert {p.sku: p.updated_at for p in Product.objects.all()} == before


def test_bad_rows_are_reported_with_row_numbers_and_skipped(tmp_path):
    rows = [
        ["OK-1", "Fine", "", "10", "true"],
        ["", "No SKU", "", "10", "true"],
        ["P-2", "Bad price", "", "12,50", "true"],
        ["P-3", "Bad bool", "", "3", "maybe"],
        ["P-4", "", "", "3", "true"],
        ["P-5", "Negative", "", "-1", "true"],
        ["P-6", "Huge", "", "99999999999", "no"],
        ["OK-2", "Fine too", "", " 4.5 ", " FALSE "],
    ]
    path = write_csv(tmp_path / "p.csv", rows)
    with path.open("a") as handle:
        handle.write("P-8,Too,many,fields,1,true\n")
    result, _ = run(path)

    assert set(catalog()) == {"OK-1", "OK-2"}
    assert Product.objects.get(sku="OK-2").is_active is False
    errors = [(e["row"], e["column"], e["message"]) for e in result["errors"]]
    assert errors == [
        (2, "sku", "is required"),
        (3, "price", "is not a number"),
        (4, "is_active", "is not a boolean (use true/false, yes/no or 1/0)"),
        (5, "name", "is required"),
        (6, "price", "must not be negative"),
        (7, "price", "is too large (at most 9999999999.99)"),
        (9, "", "has 6 fields; the header has 5"),
    ]
    assert result["errors"][1]["value"] == "12,50"
    assert (result["processed_rows"], result["success_count"], result["error_count"]) == (9, 2, 7)


CHECKED_HEADER = [*HEADER, "compare_at_price", "cost", "currency", "stock_quantity", "category"]
CHECKED_ROWS = [
    # row 1..14 of the file, each bad one breaking one rule
    ["OK-1", "ok", "", "1", "true", "2", "0.5", "usd", "+7", "lamps"],
    ["S" * 256, "long sku", "", "1", "true", "", "", "", "", ""],
    ["N-1", "n" * 501, "", "1", "true", "", "", "", "", ""],
    ["C-1", "compare", "", "1", "true", "x", "", "", "", ""],
    ["C-2", "cost", "", "1", "true", "", "-1", "", "", ""],
    ["C-3", "exponent", "", "1", "true", "1e5", "", "", "", ""],
    ["Q-1", "fraction", "", "1", "true", "", "", "", "1.5", ""],
    ["Q-2", "many digits", "", "1", "true", "", "", "", "9" * 25, ""],
    ["Q-3", "above int", "", "1", "true", "", "", "", "2147483648", ""],
    ["OK-2", "lowest int", "", "1", "false", "", "", "", "-2147483648", ""],
    ["K-1", "category", "", "1", "true", "", "", "", "", "c" * 256],
    ["M-1", "money", "", "1", "true", "", "", "EURO", "", ""],
    ["U-1", "caf\ufffd", "", "1", "true", "", "", "", "", ""],
    ["OK-3", "dot", "", " .5 ", "yes", "", "", "", "", ""],
]
CHECKED_ERRORS = [
    (2, "sku", "is longer than 255 characters"),
    (3, "name", "is longer than 500 characters"),
    (4, "compare_at_price", "is not a number"),
    (5, "cost", "must not be negative"),
    (6, "compare_at_price", "is not a number"),
    (7, "stock_quantity", "is not a whole number"),
    (8, "stock_quantity", "is out of range"),
    (9, "stock_quantity", "is out of range"),
    (11, "category", "is longer than 255 characters"),
    (12, "currency", "is not a 3-letter currency code"),
    (13, "", "contains bytes that are not valid UTF-8, or a NUL character"),
]


@pytest.mark.parametrize("row_by_row", [False, True], ids=["postgres_csv_parser", "row_by_row"])
def test_every_check_names_its_column_and_rule_on_both_paths(tmp_path, row_by_row):
    path = write_csv(tmp_path / "p.csv", CHECKED_ROWS, CHECKED_HEADER)
    if row_by_row:  # a record PostgreSQL's parser refuses sends the file down the other path
        with path.open("a") as handle:
            handle.write("X-1,x,,1,true,,,,,,extra\n")
    result, ctx = run(path)

    assert bool([line for line in ctx.lines if FALLBACK in line]) is row_by_row
    errors = [(e["row"], e["column"], e["message"]) for e in result["errors"]]
    assert errors[: len(CHECKED_ERRORS)] == CHECKED_ERRORS
    assert len(errors) == len(CHECKED_ERRORS) + row_by_row
    assert set(catalog()) == {"OK-1", "OK-2", "OK-3"}
    assert Product.objects.get(sku="OK-2").stock_quantity == -2147483648
    assert str(Product.objects.get(sku="OK-3").price) == "0.50"
    assert result["errors"][6]["value"] == "9" * 25


def test_all_errors_are_counted_but_only_the_first_ones_kept(tmp_path):
    rows = [[f"E-{i}", "x", "", "nope", "true"] for i in range(25)]
    result, _ = run(write_csv(tmp_path / "p.csv", rows), max_errors=10, batch_rows=4)

    assert result["error_count"] == 25
    assert [e["row"] for e in result["errors"]] == list(range(1, 11))
    assert Product.objects.count() == 0


def test_wrong_header_fails_fast_naming_the_missing_columns(tmp_path):
    path = write_csv(tmp_path / "p.csv", [["A", "n", "1"]], header=["SKU", "title", "cost"])

    with pytest.raises(ImportFileError) as caught:
        run(path)

    assert "name, description, price, is_active" in caught.value.message
    assert caught.value.fields == {"missing_columns": ["name", "description", "price", "is_active"]}
    assert Product.objects.count() == 0


def test_dry_run_validates_and_counts_without_writing(tmp_path):
    Product.objects.create(sku="xyz-9", name="Existing", price=1)
    rows = [*ROWS, ["", "bad", "", "1", "true"]]
    result, _ = run(write_csv(tmp_path / "p.csv", rows), dry_run=True)

    assert result["dry_run"] is True
    assert (result["success_count"], result["error_count"]) == (4, 1)
    assert (result["created"], result["updated"]) == (2, 1)
    assert list(Product.objects.values_list("sku", "name")) == [("xyz-9", "Existing")]


def test_headers_match_loosely_and_unknown_columns_are_ignored(tmp_path):
    header = ["\ufeffSKU", " Name", "Description", "PRICE", "Is Active", "Colour"]
    result, ctx = run(write_csv(tmp_path / "p.csv", [["A", "a", "", "1", "t", "red"]], header))

    assert set(catalog()) == {"A"}
    assert result["ignored_columns"] == ["colour"]
    assert any("colour" in line for line in ctx.lines)


def test_optional_columns_are_validated_and_written(tmp_path):
    header = [*HEADER, "category", "stock_quantity", "currency", "attributes", "image_urls"]
    rows = [
        [
            "A",
            "a",
            "",
            "1",
            "true",
            "lamps",
            "5",
            "eur",
            '{"colour": "red"}',
            "http://x/1|http://x/2",
        ],
        ["B", "b", "", "1", "true", "", "", "", "", ""],
        ["C", "c", "", "1", "true", "", "1.5", "", "", ""],
        ["D", "d", "", "1", "true", "", "", "EURO", "", ""],
        ["E", "e", "", "1", "true", "", "", "", "[1, 2]", ""],
    ]
    result, _ = run(write_csv(tmp_path / "p.csv", rows, header))

    a = Product.objects.get(sku="A")
    assert (a.category, a.stock_quantity, a.currency) == ("lamps", 5, "EUR")
    assert a.attributes == {"colour": "red"}
    assert a.image_urls == ["http://x/1", "http://x/2"]
    b = Product.objects.get(sku="B")
    assert (b.category, b.stock_quantity, b.currency, b.attributes, b.image_urls) == (
        "",
        0,
        "USD",
        {},
        [],
    )
    assert [(e["row"], e["column"]) for e in result["errors"]] == [
        (3, "stock_quantity"),
        (4, "currency"),
        (5, "attributes"),
    ]


def test_semicolon_csv_and_invalid_utf8_rows(tmp_path):
    path = write_csv(tmp_path / "p.csv", [["A", "a", "", "1", "true"]], delimiter=";")
    with path.open("ab") as handle:
        handle.write(b"B;caf\xe9;;2;true\n\nC;c;;3;false\n")
    result, _ = run(path)

    assert set(catalog()) == {"A", "C"}
    assert result["errors"][0]["row"] == 2
    assert "not valid UTF-8" in result["errors"][0]["message"]
    assert result["processed_rows"] == 3  # the blank line is not a record


def test_progress_goes_through_the_phases_and_ends_at_100(tmp_path):
    rows = [[f"P-{i}", "n", "", "1", "true"] for i in range(50)]
    _, ctx = run(write_csv(tmp_path / "p.csv", rows), batch_rows=10)

    assert {"validating", "writing", "parsing", "done"} <= ctx.phases()
    percents = [p for p, _, _ in ctx.events if p is not None]
    assert percents == sorted(percents) and percents[-1] == 100
    assert ctx.events[-1][2]["processed_rows"] == 50


def test_progress_is_repeated_while_the_importer_waits_on_the_database():
    ctx = FakeCtx()
    progress = _Progress(ctx, interval=0.1)
    progress.start()
    try:
        progress.emit(40, "writing", processed_rows=7)
        time.sleep(1.0)  # the job's thread blocked in one long statement
    finally:
        progress.stop()

    # Generous bounds (a loaded machine delays threads): about 10 repeats are due.
    assert len(ctx.events) >= 4
    assert all(event == (40, "writing", {"processed_rows": 7}) for event in ctx.events)
    sent = len(ctx.events)
    time.sleep(0.3)
    assert len(ctx.events) == sent  # stopped


@pytest.mark.parametrize(
    ("writer", "name"),
    [
        (write_xlsx, "p.xlsx"),
        (write_json, "p.json"),
        (write_jsonl, "p.jsonl"),
        (write_xml, "p.xml"),
    ],
)
def test_every_format_gives_the_same_catalog_as_csv(tmp_path, writer, name):
    rows = [*ROWS, ["BAD", "Bad", "", "x", "true"], ["Z-1", "Ünïcode ✓", "<b>&amp;</b>", "3", "no"]]
    csv_result, _ = run(write_csv(tmp_path / "p.csv", rows))
    expected = catalog()
    Product.objects.all().delete()

    result, _ = run(writer(tmp_path / name, rows))

    assert catalog() == expected
    for key in ("processed_rows", "success_count", "error_count", "created", "errors"):
        assert result[key] == csv_result[key], key


def test_json_values_may_be_typed_and_wrapped(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        '{"products": [{"sku": "J-1", "name": "J", "description": null, "price": 12.5,'
        ' "is_active": true, "stock_quantity": 3, "attributes": {"a": 1},'
        ' "image_urls": ["http://x/a.png"]}]}'
    )
    run(path)

    product = Product.objects.get()
    assert (product.price, product.is_active, product.stock_quantity) == (Decimal("12.50"), True, 3)
    assert (product.attributes, product.image_urls) == ({"a": 1}, ["http://x/a.png"])


def test_unreadable_files_fail_with_a_clear_message(tmp_path):
    broken = tmp_path / "p.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ImportFileError, match="XLSX"):
        run(broken)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty"):
        run(empty)
    xml = tmp_path / "p.xml"
    xml.write_text(
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><catalog><product><sku>&a;</sku></product></catalog>'
    )
    with pytest.raises(ImportFileError, match="refused"):
        run(xml)


@pytest.mark.django_db(transaction=True)
def test_validation_split_across_connections_flags_exactly_the_bad_rows(tmp_path):
    # Outside a test transaction the checks run on several connections, each over its own
    # range of the staging table's pages; bad rows and repeats sit in every range.
    rows = []
    for i in range(3000):
        price = "oops" if i % 250 == 7 else "10"
        sku = f"s-{i - 1}" if i % 300 == 299 else f"S-{i}"  # repeats the previous row's SKU
        rows.append([sku, f"Product {i}", "a description " * 3, price, "true"])
    result, _ = run(write_csv(tmp_path / "p.csv", rows), writers=3, max_errors=100)

    bad_rows = [i + 1 for i in range(3000) if i % 250 == 7]  # record numbers, from 1
    assert [e["row"] for e in result["errors"]] == bad_rows
    assert {e["message"] for e in result["errors"]} == {"is not a number"}
    assert result["error_count"] == len(bad_rows)
    distinct = {row[0].lower() for i, row in enumerate(rows) if i % 250 != 7}
    assert Product.objects.count() == len(distinct) == result["created"]
    assert Product.objects.get(sku__iexact="s-298").name == "Product 299"  # last row won


@pytest.mark.django_db(transaction=True)
def test_a_sku_inserted_by_someone_else_during_an_import_into_an_empty_catalog_is_updated(
    tmp_path,
):
    # Into an empty catalog batches are plain INSERTs; a product created meanwhile with one
    # of the file's SKUs makes that batch fall back to the upsert instead of failing.
    rows = [[f"N-{i}", f"Name {i}", "", "1", "true"] for i in range(40)]
    path = write_csv(tmp_path / "p.csv", rows)

    class SomeoneCreatesN39(FakeCtx):
        def progress(self, percent=None, *, phase=None, **counters):
            if (
                counters.get("created")
                and threading.current_thread() is threading.main_thread()
                and not Product.objects.filter(sku__iexact="n-39").exists()
            ):
                Product.objects.create(sku="n-39", name="Someone else's", price=Decimal("5"))
            super().progress(percent, phase=phase, **counters)

    result = import_catalog_file(path, SomeoneCreatesN39(), ImportOptions(batch_rows=5, writers=1))

    assert (result["created"], result["updated"], result["error_count"]) == (39, 1, 0)
    assert Product.objects.count() == 40
    assert Product.objects.values_list("sku", "name").get(sku__iexact="n-39") == ("N-39", "Name 39")


FALLBACK = "reading it row by row"


def test_a_well_formed_csv_goes_through_postgres_csv_parser_with_the_same_semantics(tmp_path):
    # BOM, semicolons, a quoted field spanning lines, an empty row, an unknown column and a
    # bad value: PostgreSQL's parser stages it all (no fallback) and row numbers still count
    # records from 1, the empty row included.
    text = (
        "\ufeffSKU;Name;Description;Price;Is Active;Colour\n"
        'Q-1;Lamp;"two\nlines; quoted";10;true;red\n'
        ";;;;;\n"
        "q-1;Lamp v2;;11;yes;blue\n"
        "Q-2;Chair;;abc;true;\n"
        'Q-3;"Mug ""Big""";;4.5;no;green\n'
    )
    path = tmp_path / "semi.csv"
    path.write_text(text, encoding="utf-8")
    result, ctx = run(path)

    assert not [line for line in ctx.lines if FALLBACK in line]
    assert "Ignoring unknown columns: colour" in ctx.lines
    assert catalog() == {
        "q-1": ("Lamp v2", "", "11.00", True),
        "Q-3": ('Mug "Big"', "", "4.50", False),
    }
    assert [(e["row"], e["column"], e["value"]) for e in result["errors"]] == [(4, "price", "abc")]
    assert (result["processed_rows"], result["success_count"], result["error_count"]) == (4, 3, 1)


def test_a_csv_postgres_refuses_is_read_row_by_row_with_nothing_lost(tmp_path):
    rows = [["F-1", "One", "", "1", "true"], ["F-2", "Two", "", "2", "true"]]
    path = write_csv(tmp_path / "p.csv", rows)
    with path.open("a") as handle:
        handle.write("\nF-3,Three,,3,true,extra\nF-4,Four,,4,false\n")
    result, ctx = run(path)

    assert len([line for line in ctx.lines if FALLBACK in line]) == 1
    assert set(catalog()) == {"F-1", "F-2", "F-4"}
    assert [(e["row"], e["message"]) for e in result["errors"]] == [
        (4, "has 6 fields; the header has 5")
    ]
    assert (result["processed_rows"], result["error_count"], result["created"]) == (4, 1, 3)
