"""What only the product tests need: a recorder of the product signals. (`make_product` is
shared: product.testing.fixtures.)"""

import pytest

from product.signals import product_created, product_deleted, product_updated


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
