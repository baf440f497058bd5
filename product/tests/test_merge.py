# ruff: noqa: S608 - SQL over a constant test table name
"""product.services.merge: staged rows into the catalog, set-based, with the upsert's rules."""

from decimal import Decimal

import pytest
from django.db import connection

from product.models import Product
from product.services.merge import StagedProducts, bulk_merge

pytestmark = pytest.mark.django_db

REQUIRED = ["sku", "name", "description", "price", "is_active"]
TABLE = "merge_test_rows"


@pytest.fixture
def stage():
    """stage(columns, rows) -> StagedProducts over a table of those text columns; each row
    is a tuple in `columns` order, numbered from 1. Rows whose `skip` is 't' are not to be
    written (the caller's own condition)."""
    cursor = connection.cursor()

    def make(columns, rows):
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        texts = ", ".join(f"{name} text" for name in columns)
        cursor.execute(
            f"CREATE TABLE {TABLE} (row_no bigint, {texts}, skip boolean NOT NULL DEFAULT false)"
        )
        with cursor.copy(f"COPY {TABLE} (row_no, {', '.join(columns)}) FROM STDIN") as copy:
            for number, row in enumerate(rows, 1):
                copy.write_row([number, *row])
        return StagedProducts(cursor, TABLE, columns, rows="NOT skip")

    yield make
    cursor.close()


def test_new_products_get_the_staged_values_and_the_defaults_of_the_rest(stage):
    staged = stage(REQUIRED, [(" A-1 ", " Lamp ", " Brass ", "19.9", "Yes")])

    assert staged.upsert(0, 1) == (1, 0, 1)

    lamp = Product.objects.get()
    assert (lamp.sku, lamp.name, lamp.description) == ("A-1", "Lamp", " Brass ")
    assert (lamp.price, lamp.is_active) == (Decimal("19.90"), True)
    assert (lamp.currency, lamp.stock_quantity, lamp.category) == ("USD", 0, "")
    assert (lamp.compare_at_price, lamp.attributes, lamp.image_urls) == (None, {}, [])


def test_optional_columns_are_read_by_their_kind(stage):
    columns = [*REQUIRED, "compare_at_price", "currency", "stock_quantity", "attributes"]
    columns += ["image_urls", "cost", "category"]
    staged = stage(
        columns,
        [
            ("B-1", "Chair", "", "5", "0", "7.505", "eur", " 12 ", '{"a": 1}', '["u1"]', "", ""),
            ("B-2", "Stool", "", "5", "off", "", "", "", "", "", "3", " Seats "),
        ],
    )

    staged.upsert(0, 2)

    chair, stool = Product.objects.order_by("sku")
    assert (chair.compare_at_price, chair.currency, chair.stock_quantity) == (
        Decimal("7.51"),
        "EUR",
        12,
    )
    assert (chair.attributes, chair.image_urls, chair.cost) == ({"a": 1}, ["u1"], None)
    assert (chair.is_active, stool.is_active) == (False, False)
    assert (stool.compare_at_price, stool.currency, stool.stock_quantity) == (None, "USD", 0)
    assert (stool.attributes, stool.image_urls, stool.cost) == ({}, [], Decimal("3.00"))
    assert stool.category == "Seats"


def test_an_existing_sku_in_any_case_takes_only_the_staged_columns(stage, make_product):
    stored = make_product(sku="lamp-1", name="Old", price=Decimal("1.00"), stock_quantity=9)
    staged = stage(REQUIRED, [("LAMP-1", "New", "d", "2.00", "true")])

    assert staged.upsert(0, 1) == (0, 1, 1)

    stored.refresh_from_db()
    assert (stored.sku, stored.name, stored.price) == ("LAMP-1", "New", Decimal("2.00"))
    assert stored.stock_quantity == 9  # not a staged column: left as it was
    assert Product.objects.count() == 1


def test_a_product_equal_to_its_row_is_not_rewritten(stage, make_product):
    stored = make_product(sku="S-1", name="Same", description="d", price=Decimal("3.00"))
    staged = stage(REQUIRED, [("S-1", "Same", "d", "3", "true")])

    assert staged.upsert(0, 1) == (0, 0, 1)

    assert Product.objects.get().updated_at == stored.updated_at


def test_only_rows_of_the_range_and_of_the_condition_are_written(stage):
    staged = stage(REQUIRED, [(f"R-{n}", "x", "", "1", "true") for n in range(1, 6)])
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET skip = true WHERE row_no = 3")

    assert staged.upsert(1, 4) == (2, 0, 2)

    assert sorted(Product.objects.values_list("sku", flat=True)) == ["R-2", "R-4"]


def test_write_inserts_into_an_empty_catalog_and_upserts_on_a_clash(stage, make_product):
    staged = stage(REQUIRED, [("N-1", "x", "", "1", "true"), ("N-2", "y", "", "1", "true")])
    assert staged.write(0, 1, insert_only=True) == (1, 0, 1)

    make_product(sku="n-2", name="someone else's")  # inserted meanwhile
    assert staged.write(1, 2, insert_only=True) == (0, 1, 1)

    assert sorted(Product.objects.values_list("sku", "name")) == [("N-1", "x"), ("N-2", "y")]


def test_predict_counts_without_writing(stage, make_product):
    make_product(sku="P-1")
    staged = stage(REQUIRED, [("p-1", "x", "", "1", "true"), ("P-2", "y", "", "1", "true")])

    assert staged.predict() == (1, 1, 2)
    assert Product.objects.count() == 1


ROWS = 6000


@pytest.fixture
def every_third_product_changed(stage):
    """6,000 staged rows for 6,000 stored products: rows 0, 3, 6, ... change the price,
    the others equal the stored product."""
    Product.objects.bulk_create(
        Product(sku=f"P-{i}", name=f"N {i}", price=Decimal("1.00")) for i in range(ROWS)
    )
    rows = [(f"P-{i}", f"N {i}", "", "2" if i % 3 == 0 else "1", "true") for i in range(ROWS)]
    return stage(REQUIRED, rows)


def test_estimate_writes_compares_every_row_when_the_sample_would_be_all_of_them(
    every_third_product_changed,
):
    assert every_third_product_changed.estimate_writes(ROWS) == ROWS // 3


def test_estimate_writes_from_a_sample_of_pages_is_close(every_third_product_changed):
    # About a quarter of the table's pages; every page holds rows of both kinds.
    estimate = every_third_product_changed.estimate_writes(ROWS, sample_rows=1500)

    assert abs(estimate - ROWS // 3) <= ROWS // 10


def test_estimate_writes_counts_new_products_as_writes(every_third_product_changed):
    Product.objects.filter(sku__in=[f"P-{i}" for i in range(1, ROWS, 3)]).delete()

    assert every_third_product_changed.estimate_writes(ROWS) == 2 * ROWS // 3


def test_bulk_merge_plans_plain_inserts_for_an_empty_catalog_only(stage, make_product):
    staged = stage(REQUIRED, [("E-1", "x", "", "1", "true")])
    with bulk_merge(staged, 1) as plan:
        assert (plan.insert_only, plan.indexes_suspended) == (True, False)

    make_product()
    with bulk_merge(staged, 1) as plan:
        assert plan.insert_only is False


def test_staged_rows_must_carry_the_required_columns_and_a_plain_table_name(stage):
    with pytest.raises(ValueError, match="required columns"):
        stage(["sku", "name"], [("A", "b")])
    with pytest.raises(ValueError, match="bad staging table name"):
        StagedProducts(connection.cursor(), "x; DROP TABLE product_product", REQUIRED, rows="t")
