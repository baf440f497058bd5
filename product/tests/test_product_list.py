"""The product list: every filter, search, ordering, pagination bounds, index-served SQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from product.filters import ProductFilter
from product.models import Product

pytestmark = pytest.mark.django_db

URL = "/api/products/"


def skus(response):
    assert response.status_code == 200, response.content
    return [item["sku"] for item in response.json()["results"]]


@pytest.fixture
def catalog(make_product):
    make_product(
        sku="MUG-1",
        name="Blue Mug",
        description="Stoneware, 300 ml",
        price="8.00",
        category="kitchen",
    )
    make_product(
        sku="mug-2",
        name="Red mug",
        description="Porcelain",
        price="12.50",
        category="kitchen",
        is_active=False,
    )
    make_product(
        sku="LAMP-1",
        name="Desk Lamp",
        description="LED, warm white",
        price="40.00",
        category="office",
    )
    make_product(
        sku="50%_OFF",
        name="Sale 50%_off sign",
        description="Promo",
        price="1.00",
        category="office",
    )


def test_sku_is_exact_and_case_insensitive(viewer, catalog):
    assert skus(viewer.get(URL, {"sku": "mug-1"})) == ["MUG-1"]
    assert skus(viewer.get(URL, {"sku": "MUG-2"})) == ["mug-2"]
    assert skus(viewer.get(URL, {"sku": "MUG"})) == []


def test_name_is_a_case_insensitive_substring(viewer, catalog):
    assert skus(viewer.get(URL, {"name": "MUG"})) == ["MUG-1", "mug-2"]
    assert skus(viewer.get(URL, {"name": "esk la"})) == ["LAMP-1"]


def test_like_wildcards_in_a_substring_match_themselves(viewer, catalog, make_product):
    make_product(sku="X-1", name="Sale 50 percent off")
    assert skus(viewer.get(URL, {"name": "50%_o"})) == ["50%_OFF"]
    assert skus(viewer.get(URL, {"name": "e 5"})) == ["50%_OFF", "X-1"]


def test_description_is_a_case_insensitive_substring(viewer, catalog):
    assert skus(viewer.get(URL, {"description": "porcel"})) == ["mug-2"]
    assert skus(viewer.get(URL, {"description": "WARM"})) == ["LAMP-1"]


def test_substring_filters_need_three_characters(viewer, catalog):
    for params in ({"name": "mu"}, {"description": "po"}, {"search": "mug xy"}):
        response = viewer.get(URL, params)
        assert response.status_code == 400, params
        assert next(iter(params)) in response.json()["error"]["fields"]


def test_is_active(viewer, catalog):
    assert skus(viewer.get(URL, {"is_active": "false"})) == ["mug-2"]
    assert len(skus(viewer.get(URL, {"is_active": "true"}))) == 3
    response = viewer.get(URL, {"is_active": "maybe"})
    assert response.status_code == 400
    assert "is_active" in response.json()["error"]["fields"]


def test_price_min_and_max_are_inclusive(viewer, catalog):
    assert skus(viewer.get(URL, {"price_min": "8", "price_max": "12.50"})) == ["MUG-1", "mug-2"]
    assert skus(viewer.get(URL, {"price_min": "40"})) == ["LAMP-1"]
    assert skus(viewer.get(URL, {"price_max": "1"})) == ["50%_OFF"]
    response = viewer.get(URL, {"price_min": "cheap"})
    assert response.status_code == 400
    assert "price_min" in response.json()["error"]["fields"]


def test_category_is_exact(viewer, catalog):
    assert skus(viewer.get(URL, {"category": "office"})) == ["LAMP-1", "50%_OFF"]
    assert skus(viewer.get(URL, {"category": "offic"})) == []


def test_updated_after_is_inclusive(viewer, catalog):
    now = timezone.now()
    Product.objects.filter(sku="LAMP-1").update(updated_at=now)
    Product.objects.exclude(sku="LAMP-1").update(updated_at=now - timedelta(days=2))
    assert skus(viewer.get(URL, {"updated_after": now.isoformat()})) == ["LAMP-1"]
    earlier = (now - timedelta(days=3)).isoformat()
    assert len(skus(viewer.get(URL, {"updated_after": earlier}))) == 4
    response = viewer.get(URL, {"updated_after": "yesterday"})
    assert response.status_code == 400
    assert "updated_after" in response.json()["error"]["fields"]


def test_search_needs_every_word_in_sku_or_name(viewer, catalog):
    assert skus(viewer.get(URL, {"search": "mug"})) == ["MUG-1", "mug-2"]
    assert skus(viewer.get(URL, {"search": "red MUG"})) == ["mug-2"]
    assert skus(viewer.get(URL, {"search": "lamp-1"})) == ["LAMP-1"]
    assert skus(viewer.get(URL, {"search": "lamp mug"})) == []


def test_filters_combine(viewer, catalog):
    params = {"name": "mug", "is_active": "true", "category": "kitchen", "price_max": "10"}
    assert skus(viewer.get(URL, params)) == ["MUG-1"]


def test_ordering_with_a_stable_tie_break(viewer, make_product):
    make_product(sku="b", name="same", price="5.00")
    make_product(sku="C", name="same", price="5.00")
    make_product(sku="a", name="other", price="9.00")
    assert skus(viewer.get(URL, {"ordering": "-price"})) == ["a", "C", "b"]
    assert skus(viewer.get(URL, {"ordering": "price"})) == ["b", "C", "a"]
    assert skus(viewer.get(URL, {"ordering": "sku"})) == ["a", "b", "C"]  # case-insensitive
    assert skus(viewer.get(URL, {"ordering": "-sku"})) == ["C", "b", "a"]
    assert skus(viewer.get(URL, {"ordering": "name,-id"})) == ["a", "C", "b"]
    assert skus(viewer.get(URL)) == ["b", "C", "a"]  # default: id


def test_unknown_ordering_is_a_400(viewer):
    response = viewer.get(URL, {"ordering": "cost"})
    assert response.status_code == 400
    assert "ordering" in response.json()["error"]["fields"]


def test_pagination_shape_and_default_page_size(viewer, make_product):
    Product.objects.bulk_create(
        Product(sku=f"P-{n:03d}", name=f"Item {n}", price=Decimal(1)) for n in range(120)
    )
    body = viewer.get(URL).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 120
    assert len(body["results"]) == 50
    assert body["previous"] is None
    assert "page=2" in body["next"]

    last = viewer.get(URL, {"page": 3}).json()
    assert [item["sku"] for item in last["results"]] == [f"P-{n:03d}" for n in range(100, 120)]
    assert last["next"] is None
    assert last["count"] == 120


def test_page_size_is_clamped_to_500(viewer):
    Product.objects.bulk_create(
        Product(sku=f"P-{n:04d}", name="Item", price=Decimal(1)) for n in range(501)
    )
    body = viewer.get(URL, {"page_size": 100000}).json()
    assert len(body["results"]) == 500
    assert body["count"] == 501
    assert len(viewer.get(URL, {"page_size": 7}).json()["results"]) == 7


def test_a_page_past_the_end_is_a_404(viewer, make_product):
    make_product()
    response = viewer.get(URL, {"page": 2})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert viewer.get(URL, {"page": 0}).status_code == 404
    assert viewer.get(URL, {"page": "abc"}).status_code == 404


def test_a_small_result_is_fetched_without_walking_an_index(viewer, make_product):
    for n in range(3):
        make_product(name=f"Blue Mug {n}")
    with CaptureQueriesContext(connection) as captured:
        body = viewer.get(URL, {"name": "mug", "page_size": 2})
    sql = [q["sql"] for q in captured.captured_queries]
    hint = next(n for n, text in enumerate(sql) if "'enable_indexscan', 'off'" in text)
    assert "COUNT(" in sql[hint - 2]  # the count came first (then the transaction began)
    assert "ILIKE" in sql[hint + 1]  # the page query runs under the hint
    assert "'enable_indexscan', 'on'" in sql[hint + 2]  # and the setting is put back
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_indexscan")
        assert cursor.fetchone()[0] == "on"
    assert body.json()["count"] == 3
    assert [item["name"] for item in body.json()["results"]] == ["Blue Mug 0", "Blue Mug 1"]


def test_a_large_result_keeps_the_planners_choice(viewer, monkeypatch):
    monkeypatch.setattr("product.pagination.CountInformedPaginator.SMALL_RESULT", 10)
    Product.objects.bulk_create(
        Product(sku=f"P-{n:03d}", name="Mug", price=Decimal(1)) for n in range(12)
    )
    with CaptureQueriesContext(connection) as captured:
        body = viewer.get(URL, {"name": "mug", "page_size": 5}).json()
    assert body["count"] == 12 and len(body["results"]) == 5
    assert not [q for q in captured.captured_queries if "enable_indexscan" in q["sql"]]


def plan(run) -> str:
    """EXPLAIN, with sequential scans disabled, of the SQL `run()` sends: shows whether an
    index *can* serve it (on a handful of rows PostgreSQL would rightly read the table)."""
    with CaptureQueriesContext(connection) as captured:
        run()
    sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "params, index",
    [
        ({"name": "mug"}, "product_name_trgm"),
        ({"description": "stone"}, "product_description_trgm"),
        ({"sku": "Mug-1"}, "product_sku_ci_unique"),
        ({"search": "mug"}, "product_sku_trgm"),
        ({"search": "mug"}, "product_name_trgm"),
    ],
)
def test_filters_and_their_counts_compile_to_sql_their_index_serves(catalog, params, index):
    # Django's icontains/iexact compile to UPPER(col), which these indexes cannot serve.
    Product.objects.bulk_create(
        Product(sku=f"F-{n:05d}", name=f"Filler {n}", description="plain", price=Decimal(1))
        for n in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE product_product")
    queryset = ProductFilter(params, queryset=Product.objects.all()).qs.order_by()
    assert index in plan(lambda: list(queryset.all()))
    assert index in plan(queryset.all().count)


@pytest.mark.parametrize(
    "params",
    [
        {"name": "ab\x00c"},
        {"sku": "A\x00"},
        {"search": "abc\x00def"},
        {"category": "x\x00"},
        {"price_max": "NaN"},
        {"price_min": "Infinity"},
    ],
)
def test_filter_values_the_database_cannot_take_are_a_400(viewer, params):
    response = viewer.get(URL, params)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error"]["fields"]
