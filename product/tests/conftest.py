"""Fixtures of the product tests: products and a recorder of the product signals."""

from decimal import Decimal

import pytest

from product.models import Product
from product.signals import product_created, product_deleted, product_updated


@pytest.fixture
def make_product(db):
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
def events():
    """Every product signal sent during the test, as (name, kwargs) in order."""
    sent = []

    def recorder(name):
        def receive(sender, signal, **kwargs):
            sent.append((name, kwargs))

        return receive

    receivers = {
        product_created: recorder("created"),
        product_updated: recorder("updated"),
        product_deleted: recorder("deleted"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False, dispatch_uid=f"test-{id(receiver)}")
    yield sent
    for signal, receiver in receivers.items():
        signal.disconnect(dispatch_uid=f"test-{id(receiver)}")


@pytest.fixture
def operator(client_for):
    return client_for("operator")


@pytest.fixture
def viewer(client_for):
    return client_for("viewer")
