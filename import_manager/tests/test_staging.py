"""The staging table's own statements, called directly."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection

from import_manager.services.staging import StagingTable
from product.models import Product

pytestmark = pytest.mark.django_db

COLUMNS = ["sku", "name", "description", "price", "is_active"]


@pytest.fixture
def stage():
    with connection.cursor() as cursor:
        table = StagingTable(cursor, f"import_stage_{uuid.uuid4().hex}", COLUMNS)
        table.create()
        yield table
        table.drop()


def test_the_product_service_gets_only_valid_rows_last_of_their_sku(stage):
    with stage.copy() as copy:
        for row in [
            (1, "A-1", "Lamp", "", "1.00", "true"),
            (2, "B-1", "Chair", "", "abc", "true"),  # not a number: flagged
            (3, "a-1", "Lamp 2", "", "2.00", "false"),  # supersedes row 1
            (4, "C-1", "Desk", "", "3.00", "yes"),
        ]:
            copy.write_row(row)
    stage.flag_invalid()
    assert stage.mark_superseded() == 1

    products = stage.products()
    assert products.predict() == (2, 0, 2)
    assert products.upsert(0, 4) == (2, 0, 2)

    assert sorted(Product.objects.values_list("sku", "name", "price", "is_active")) == [
        ("C-1", "Desk", Decimal("3.00"), True),
        ("a-1", "Lamp 2", Decimal("2.00"), False),
    ]
    assert stage.flagged_rows(10) == [(2, "price", "is not a number", "abc")]


def test_checks_follow_the_column_contract(stage):
    too_long = "x" * 256
    with stage.copy() as copy:
        for row in [
            (1, too_long, "n", "", "1", "true"),
            (2, "S-2", "", "", "1", "true"),
            (3, "S-3", "n", "", "10000000000", "true"),
            (4, "S-4", "n", "", "-1", "true"),
            (5, "S-5", "n", "", "1", "maybe"),
            (6, "S-6", "n", "", "9999999999.994", "true"),  # rounds to the largest price
        ]:
            copy.write_row(row)
    stage.flag_invalid()

    assert [(row, column, message) for row, column, message, _ in stage.flagged_rows(10)] == [
        (1, "sku", "is longer than 255 characters"),
        (2, "name", "is required"),
        (3, "price", "is too large (at most 9999999999.99)"),
        (4, "price", "must not be negative"),
        (5, "is_active", "is not a boolean (use true/false, yes/no or 1/0)"),
    ]
