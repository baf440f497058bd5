"""product_created / product_updated / product_deleted: sent after commit, for API and admin
changes, and never for a change that was rolled back."""

from decimal import Decimal

import pytest
from django.db import transaction

from product.models import Product
from product.services.catalog import (
    SkuConflict,
    create_product,
    delete_product,
    update_product,
)

URL = "/api/products/"


@pytest.mark.django_db
def test_api_create_update_delete_send_their_events_on_commit(
    operator, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator.post(URL, {"sku": "E-1", "name": "Event", "price": "3.00"})
    assert response.status_code == 201
    assert events == []  # not before the commit
    for callback in callbacks:
        callback()
    [(name, kwargs)] = events
    assert name == "created"
    assert kwargs["product"].pk == response.json()["id"]

    product_id = response.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        operator.patch(f"{URL}{product_id}/", {"price": "4.00", "name": "Event"})
    name, kwargs = events[-1]
    assert name == "updated"
    assert kwargs["changes"] == ["price"]  # the unchanged name is not a change
    assert kwargs["product"].price == Decimal("4.00")

    with django_capture_on_commit_callbacks(execute=True):
        operator.delete(f"{URL}{product_id}/")
    name, kwargs = events[-1]
    assert name == "deleted"
    data = kwargs["product_data"]
    assert data["id"] == product_id and data["sku"] == "E-1" and data["price"] == "4.00"
    assert data["updated_at"].endswith("Z")
    assert len(events) == 3


@pytest.mark.django_db
def test_an_update_that_changes_nothing_sends_nothing(
    operator, make_product, events, django_capture_on_commit_callbacks
):
    product = make_product(name="Same")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = operator.patch(f"{URL}{product.pk}/", {"name": "Same"})
    assert response.status_code == 200
    assert callbacks == [] and events == []


@pytest.mark.django_db
def test_a_rejected_change_sends_nothing(
    operator, make_product, events, django_capture_on_commit_callbacks
):
    make_product(sku="TAKEN")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert operator.post(URL, {"sku": "taken", "name": "x"}).status_code == 400
        assert operator.post(URL, {"sku": "NEW", "name": "x", "price": "-1"}).status_code == 400
    assert callbacks == [] and events == []


@pytest.mark.django_db(transaction=True)
def test_rolled_back_changes_send_nothing(events):
    product = create_product({"sku": "R-1", "name": "Kept", "price": Decimal("1.00")})
    events.clear()

    with pytest.raises(RuntimeError), transaction.atomic():
        create_product({"sku": "R-2", "name": "Gone", "price": Decimal("1.00")})
        update_product(product, {"name": "Renamed"})
        delete_product(Product.objects.get(sku="R-1"))
        raise RuntimeError("the surrounding work failed")

    assert events == []
    assert list(Product.objects.values_list("sku", "name")) == [("R-1", "Kept")]


@pytest.mark.django_db(transaction=True)
def test_events_are_sent_once_the_outer_transaction_commits(events):
    with transaction.atomic():
        product = create_product({"sku": "O-1", "name": "Outer"})
        assert events == []
    assert [name for name, _ in events] == ["created"]
    assert events[0][1]["product"] == product


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_does_not_break_the_committed_change_or_other_receivers(events):
    from product.signals import product_created

    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    product_created.connect(broken, weak=False, dispatch_uid="broken")
    try:
        product = create_product({"sku": "B-1", "name": "Survives"})
    finally:
        product_created.disconnect(dispatch_uid="broken")
    assert Product.objects.filter(pk=product.pk).exists()
    assert [name for name, _ in events] == ["created"]


@pytest.mark.django_db(transaction=True)
def test_a_sku_conflict_in_a_transaction_leaves_it_usable(make_product):
    make_product(sku="DUP")
    with transaction.atomic():
        with pytest.raises(SkuConflict) as caught:
            create_product({"sku": "dup", "name": "x"})
        # The savepoint rolled back only the insert: the transaction goes on.
        create_product({"sku": "OTHER", "name": "y"})
    assert caught.value.existing.sku == "DUP"
    assert Product.objects.filter(sku="OTHER").exists()


@pytest.mark.django_db
def test_a_failed_update_leaves_the_instance_as_stored(make_product):
    make_product(sku="TAKEN")
    product = make_product(sku="MINE", name="Mine")
    with pytest.raises(SkuConflict):
        update_product(product, {"sku": "taken", "name": "Changed"})
    assert (product.sku, product.name) == ("MINE", "Mine")


@pytest.mark.django_db
def test_services_refuse_fields_that_are_not_editable(make_product):
    with pytest.raises(TypeError):
        create_product({"sku": "X", "name": "x", "id": 5})
    with pytest.raises(TypeError):
        update_product(make_product(), {"created_at": None})
