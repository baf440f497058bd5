"""The product admin: list, search, filters, and saves/deletes that send the product
signals after commit (through the catalog services)."""

from decimal import Decimal

import pytest

from product.models import Product

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/product/product/"


def form(**fields):
    data = {
        "sku": "ADM-1",
        "name": "Admin product",
        "description": "",
        "price": "5.00",
        "compare_at_price": "",
        "cost": "",
        "currency": "USD",
        "stock_quantity": "3",
        "is_active": "on",
        "category": "misc",
        "attributes": "{}",
        "image_urls": "",
    }
    data.update(fields)
    return data


def test_add_change_delete_send_events_after_commit(
    staff_client, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(f"{CHANGELIST}add/", form())
    assert response.status_code == 302, response.content[:2000]
    assert events == []
    for callback in callbacks:
        callback()
    product = Product.objects.get(sku="ADM-1")
    assert [(name, kwargs["product"].pk) for name, kwargs in events] == [("created", product.pk)]

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"{CHANGELIST}{product.pk}/change/", form(price="6.50", stock_quantity="3")
        )
    assert response.status_code == 302
    name, kwargs = events[-1]
    assert name == "updated" and kwargs["changes"] == ["price"]
    product.refresh_from_db()
    assert product.price == Decimal("6.50")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{CHANGELIST}{product.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    name, kwargs = events[-1]
    assert name == "deleted" and kwargs["product_data"]["sku"] == "ADM-1"
    assert not Product.objects.exists()


def test_deleting_a_selection_sends_one_event_per_product(
    staff_client, make_product, events, django_capture_on_commit_callbacks
):
    chosen = [make_product(), make_product()]
    kept = make_product()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {
                "action": "delete_selected",
                "_selected_action": [p.pk for p in chosen],
                "post": "yes",
            },
        )
    assert response.status_code == 302
    assert sorted(kwargs["product_data"]["id"] for _, kwargs in events) == sorted(
        p.pk for p in chosen
    )
    assert list(Product.objects.values_list("pk", flat=True)) == [kept.pk]


def test_a_sku_taken_in_another_case_is_a_form_error(staff_client, make_product, events):
    make_product(sku="ADM-1")
    response = staff_client.post(f"{CHANGELIST}add/", form(sku="adm-1"))
    assert response.status_code == 200
    assert "SKUs are unique regardless of letter case" in response.content.decode()
    assert Product.objects.count() == 1
    assert events == []


def test_changelist_searches_sku_and_name_and_filters(staff_client, make_product):
    make_product(sku="MUG-1", name="Blue mug", category="kitchen", currency="EUR")
    make_product(sku="LAMP-1", name="Desk lamp", category="office")
    page = staff_client.get(CHANGELIST, {"q": "mug"}).content.decode()
    assert "MUG-1" in page and "LAMP-1" not in page
    page = staff_client.get(CHANGELIST, {"q": "lamp-1"}).content.decode()
    assert "LAMP-1" in page and "MUG-1" not in page
    page = staff_client.get(CHANGELIST, {"currency": "EUR"}).content.decode()
    assert "MUG-1" in page and "LAMP-1" not in page
    page = staff_client.get(CHANGELIST, {"is_active__exact": "1", "category": "office"})
    assert "LAMP-1" in page.content.decode()
