"""Shared fixtures of the catalog: products, and the bulk-load threshold every test starts
with. Registered once for the whole suite by the root conftest.py (`pytest_plugins`)."""

from decimal import Decimal

import pytest


@pytest.fixture(autouse=True)
def _no_bulk_loads_unless_asked(settings):
    """A bulk load leaves the description index to a restore job that most tests never run,
    and a transactional test's flush then forgets the record of it: later tests would find
    the index gone. Tests of bulk loads lower the threshold (and repair indexes) themselves."""
    settings.PRODUCT_BULK_LOAD_MIN_ROWS = 10**12


@pytest.fixture
def make_product(db):
    """`make_product(**fields)` → a saved Product; sku `SKU-0001`, `SKU-0002`, … name
    `Product <n>` and price 10.00 unless given."""
    from product.models import Product

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        values = {
            "sku": f"SKU-{counter['n']:04d}",
            "name": f"Product {counter['n']}",
            "price": Decimal("10.00"),
        }
        values.update(fields)
        return Product.objects.create(**values)

    return make


@pytest.fixture
def indexes_before():
    """The product table's indexes ({name: indexdef}) before the test, built again afterwards
    if a transactional test left any of them missing or invalid. Tests of bulk loads use it
    (`pytestmark = pytest.mark.usefixtures("indexes_before")`)."""
    from product.testing.indexes import repaired_indexes

    with repaired_indexes() as snapshot:
        yield snapshot
