"""A search of only whitespace is refused (it would otherwise match every product)."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_whitespace_only_search_is_a_400(viewer, make_product):
    make_product(name="Brass lamp")
    response = viewer.get("/api/products/", {"search": "   "})
    assert response.status_code == 400
    assert "search" in response.json()["error"]["fields"]
    assert viewer.get("/api/products/", {"search": ""}).status_code == 200
