"""The staging table's own statements, called directly."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection

from import_manager.services.staging import StagingTable
from product.models import Product

pytestmark = pytest.mark.django_db

COLUMNS = ["sku", "name", "description", "price", "is_active"]
ROWS = 6000


@pytest.fixture
def stage_with_every_third_product_changed():
    """6,000 staged rows for 6,000 stored products: rows 0, 3, 6, ... change the price,
    the others equal the stored product."""
    Product.objects.bulk_create(
        Product(sku=f"P-{i}", name=f"N {i}", price=Decimal("1.00")) for i in range(ROWS)
    )
    with connection.cursor() as cursor:
        stage = StagingTable(cursor, f"import_stage_{uuid.uuid4().hex}", COLUMNS)
        stage.create()
        with stage.copy() as copy:
            for i in range(ROWS):
                price = "2" if i % 3 == 0 else "1"
                copy.write_row([i + 1, f"P-{i}", f"N {i}", "", price, "true"])
        yield stage
        stage.drop()


def test_estimate_writes_compares_every_row_when_the_sample_would_be_all_of_them(
    stage_with_every_third_product_changed,
):
    assert stage_with_every_third_product_changed.estimate_writes(ROWS) == ROWS // 3


def test_estimate_writes_from_a_sample_of_pages_is_close(stage_with_every_third_product_changed):
    # About a quarter of the table's pages; every page holds rows of both kinds.
    estimate = stage_with_every_third_product_changed.estimate_writes(ROWS, sample_rows=1500)

    assert abs(estimate - ROWS // 3) <= ROWS // 10


def test_estimate_writes_counts_new_products_as_writes(stage_with_every_third_product_changed):
    Product.objects.filter(sku__in=[f"P-{i}" for i in range(1, ROWS, 3)]).delete()

    assert stage_with_every_third_product_changed.estimate_writes(ROWS) == 2 * ROWS // 3
