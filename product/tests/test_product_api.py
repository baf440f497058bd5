"""Product CRUD over the API: validation, case-insensitive SKU conflicts, roles."""

from decimal import Decimal

import pytest

from core.models import Role
from core.testing.role_matrix import RoleMatrix, action
from product.models import Product

pytestmark = pytest.mark.django_db

URL = "/api/products/"


def detail(product):
    return f"{URL}{product.pk}/"


def valid(**fields):
    body = {"sku": "MUG-1", "name": "Blue mug", "price": "12.50"}
    body.update(fields)
    return body


def test_create_returns_the_product_with_defaults(operator):
    response = operator.post(
        URL,
        valid(
            compare_at_price="15.00",
            attributes={"colour": "blue"},
            image_urls=["https://img.example.com/mug.jpg"],
            currency="eur",
        ),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sku"] == "MUG-1"
    assert body["price"] == "12.50"  # money is a string, never a float
    assert body["compare_at_price"] == "15.00"
    assert body["currency"] == "EUR"
    assert body["is_active"] is True
    assert body["stock_quantity"] == 0
    assert body["attributes"] == {"colour": "blue"}
    assert body["image_urls"] == ["https://img.example.com/mug.jpg"]
    product = Product.objects.get(pk=body["id"])
    assert product.price == Decimal("12.50")


def test_get_put_patch_delete_round_trip(operator, make_product):
    product = make_product(sku="A-1", name="Old")
    assert operator.get(detail(product)).json()["name"] == "Old"

    body = operator.get(detail(product)).json()
    body.update(name="New", price="20.00")
    response = operator.put(detail(product), body)  # read-only fields sent back are ignored
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "New"

    response = operator.patch(detail(product), {"stock_quantity": 7})
    assert response.status_code == 200
    assert response.json()["stock_quantity"] == 7
    assert response.json()["name"] == "New"

    assert operator.delete(detail(product)).status_code == 204
    assert not Product.objects.filter(pk=product.pk).exists()
    assert operator.get(detail(product)).status_code == 404


@pytest.mark.parametrize("existing, requested", [("ABC-1", "abc-1"), ("abc-1", "ABC-1")])
def test_creating_an_existing_sku_in_another_case_is_a_400_naming_it(
    operator, make_product, existing, requested
):
    other = make_product(sku=existing)
    response = operator.post(URL, valid(sku=requested))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "sku_conflict"
    assert requested in error["message"] and existing in error["message"]
    assert str(other.pk) in error["message"]
    assert "sku" in error["fields"]
    assert Product.objects.count() == 1


def test_creating_the_very_same_sku_is_a_400(operator, make_product):
    make_product(sku="SAME")
    response = operator.post(URL, valid(sku="SAME"))
    assert response.status_code == 400
    assert "SAME" in response.json()["error"]["message"]


def test_updating_to_another_products_sku_in_another_case_is_a_400(operator, make_product):
    make_product(sku="TAKEN-1")
    product = make_product(sku="MINE-1")
    body = valid(sku="taken-1")

    put = operator.put(detail(product), body)
    patch = operator.patch(detail(product), {"sku": "Taken-1"})

    for response in (put, patch):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "sku_conflict"
        assert "TAKEN-1" in response.json()["error"]["message"]
    product.refresh_from_db()
    assert product.sku == "MINE-1"


def test_changing_the_case_of_its_own_sku_is_allowed(operator, make_product):
    product = make_product(sku="mine-1")
    response = operator.patch(detail(product), {"sku": "MINE-1"})
    assert response.status_code == 200
    assert response.json()["sku"] == "MINE-1"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"price": "-1.00"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1.005"}, "price"),
        ({"price": "100000000000.00"}, "price"),
        ({"cost": "-0.01"}, "cost"),
        ({"compare_at_price": "-5"}, "compare_at_price"),
        ({"stock_quantity": "many"}, "stock_quantity"),
        ({"stock_quantity": -1}, "stock_quantity"),
        ({"stock_quantity": 2**31}, "stock_quantity"),
        ({"is_active": "maybe"}, "is_active"),
        ({"currency": "euro"}, "currency"),
        ({"attributes": ["not", "an", "object"]}, "attributes"),
        ({"attributes": {"bad": "nul\u0000"}}, "attributes"),
        ({"image_urls": "https://img.example.com/a.jpg"}, "image_urls"),
        ({"image_urls": ["not a url"]}, "image_urls"),
        ({"sku": ""}, "sku"),
        ({"sku": "x" * 256}, "sku"),
        ({"name": ""}, "name"),
        ({"name": "nul\u0000byte"}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_clear_400_naming_the_field(operator, fields, field):
    response = operator.post(URL, valid(**fields))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert not Product.objects.exists()


def test_required_fields_are_named(operator):
    response = operator.post(URL, {})
    assert response.status_code == 400
    assert {"sku", "name"} <= set(response.json()["error"]["fields"])


def test_unknown_fields_are_rejected_on_patch_too(operator, make_product):
    product = make_product()
    response = operator.patch(detail(product), {"colour": "red"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"colour": ["Unknown field."]}


def test_a_json_body_that_is_not_an_object_is_a_400(operator):
    response = operator.post(URL, ["sku"])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


class TestProductRoles(RoleMatrix):
    """Viewers read the catalog, operators change it, only admins delete all of it."""

    list_url = URL
    model = Product
    create_data = valid()
    update_data = valid(name="Renamed", price="20.00")
    partial_update_data = {"name": "Renamed"}
    actions = (
        action("bulk-delete", "delete", role=Role.ADMIN, data={"confirm": True}),
        action("bulk-price-update", data={"mode": "set", "value": "1.00", "all": True}),
    )

    @pytest.fixture
    def instance(self, make_product):
        return make_product()
