"""Bulk delete (confirmation, inline or as a job) and bulk price update (one statement).

Who may do either (admins delete, operators change prices): TestProductRoles in
test_product_api.py."""

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.exceptions import PlatformError
from core.models import Job, JobStatus
from core.services.jobs import execute_job
from product.jobs import BULK_PRICE_UPDATE, DELETE_ALL
from product.models import Product
from product.services.bulk import bulk_update_prices, request_bulk_price_update

DELETE_URL = "/api/products/bulk-delete/"
PRICE_URL = "/api/products/bulk-price-update"


def many(count, **fields):
    values = {"name": "Item", "price": Decimal("10.00")}
    values.update(fields)
    Product.objects.bulk_create(
        Product(sku=f"{values.get('category', 'X')}-{n:04d}", **values) for n in range(count)
    )


def prices():
    return {sku: str(price) for sku, price in Product.objects.values_list("sku", "price")}


# --- bulk delete ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"confirm": False}, {"confirm": "nope"}, None])
def test_bulk_delete_without_confirmation_is_a_400_and_deletes_nothing(admin, body):
    many(3)
    response = admin.delete(DELETE_URL, body, format="json")
    assert response.status_code == 400
    assert "confirm" in response.json()["error"]["fields"]
    assert Product.objects.count() == 3


@pytest.mark.django_db
def test_bulk_delete_accepts_the_confirmation_as_a_query_parameter(admin):
    many(3)
    assert admin.delete(f"{DELETE_URL}?confirm=false").status_code == 400
    assert Product.objects.count() == 3
    response = admin.delete(f"{DELETE_URL}?confirm=true")
    assert response.status_code == 200
    assert response.json()["deleted"] == 3


@pytest.mark.django_db
def test_bulk_delete_rejects_unknown_fields(admin):
    response = admin.delete(DELETE_URL, {"confirm": True, "all": True}, format="json")
    assert response.status_code == 400
    assert "all" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_a_small_catalog_is_deleted_in_the_request(admin, settings, events):
    settings.PRODUCT_BULK_DELETE_INLINE_MAX_ROWS = 10
    many(10)
    response = admin.delete(DELETE_URL, {"confirm": True}, format="json")
    assert response.status_code == 200
    assert response.json() == {"deleted": 10, "job": None}
    assert not Product.objects.exists()
    assert events == []  # bulk paths send no per-product events
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_large_catalog_is_deleted_by_a_job(client_for, settings, monkeypatch):
    enqueued = []
    monkeypatch.setattr("core.services.job_lifecycle._enqueue", lambda job: enqueued.append(job.pk))
    settings.PRODUCT_BULK_DELETE_INLINE_MAX_ROWS = 10
    many(11)
    admin = client_for("admin")

    response = admin.delete(DELETE_URL, {"confirm": True}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert body["deleted"] is None
    assert body["job"]["kind"] == DELETE_ALL.name
    assert body["job"]["status"] == JobStatus.PENDING
    assert Product.objects.count() == 11  # nothing deleted by the request itself
    job = Job.objects.get(pk=body["job"]["id"])
    assert enqueued == [job.pk]  # enqueued once the request committed
    assert job.owner == admin.user

    execute_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result == {"deleted": 11}
    assert job.progress == 100
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_bulk_delete_is_one_statement(admin, settings):
    settings.PRODUCT_BULK_DELETE_INLINE_MAX_ROWS = 1000
    many(200)
    with CaptureQueriesContext(connection) as captured:
        admin.delete(DELETE_URL, {"confirm": True}, format="json")
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert deletes == ["DELETE FROM product_product"]


# --- bulk price update ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "mode, value, ending, expected",
    [
        ("set", "19.95", None, "19.95"),
        ("set", "19.95", "0.99", "19.99"),
        ("percent", "10", None, "11.00"),  # 10.00 * 1.10
        ("percent", "-12.5", None, "8.75"),
        ("percent", "3.333", None, "10.33"),  # 10.3333 rounded to cents
        ("percent", "0.05", None, "10.01"),  # 10.005: half rounds up
        ("percent", "10", "0.99", "11.99"),
        ("fixed", "2.5", None, "12.50"),
        ("fixed", "-3", "0.99", "7.99"),
        ("fixed", "-25", None, "0.00"),  # never below zero
    ],
)
def test_price_change_modes_and_rounding(make_product, mode, value, ending, expected):
    make_product(sku="A", price=Decimal("10.00"))
    updated = bulk_update_prices(
        mode=mode,
        value=Decimal(value),
        ending=None if ending is None else Decimal(ending),
        every_product=True,
    )
    assert updated == 1
    assert prices() == {"A": expected}


@pytest.mark.django_db
def test_price_update_over_a_filter_is_one_update_statement_returning_the_count(operator):
    many(3, category="kitchen", price=Decimal("10.00"))
    many(2, category="office", price=Decimal("10.00"))
    Product.objects.filter(sku="kitchen-0002").update(is_active=False)
    body = {
        "mode": "percent",
        "value": "20",
        "ending": "0.99",
        "filters": {"category": "kitchen", "is_active": True},
    }

    with CaptureQueriesContext(connection) as captured:
        response = operator.post(PRICE_URL, body)

    assert response.status_code == 200, response.json()
    assert response.json() == {"updated": 2, "job": None}
    writes = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SELECT")]
    writes = [sql for sql in writes if "SAVEPOINT" not in sql]
    assert len(writes) == 1 and writes[0].startswith("UPDATE")
    assert prices() == {
        "kitchen-0000": "12.99",
        "kitchen-0001": "12.99",
        "kitchen-0002": "10.00",
        "office-0000": "10.00",
        "office-0001": "10.00",
    }


@pytest.mark.django_db(transaction=True)
def test_a_price_update_over_many_products_runs_as_a_job(client_for, settings, monkeypatch):
    enqueued = []
    monkeypatch.setattr("core.services.job_lifecycle._enqueue", lambda job: enqueued.append(job.pk))
    settings.PRODUCT_BULK_PRICE_INLINE_MAX_ROWS = 3
    many(4, category="kitchen", price=Decimal("10.00"))
    many(2, category="office", price=Decimal("10.00"))
    operator = client_for("operator")
    body = {"mode": "fixed", "value": "-0.50", "ending": "0.95", "filters": {"category": "kitchen"}}

    response = operator.post(PRICE_URL, body)

    assert response.status_code == 202, response.json()
    assert response.json()["updated"] is None
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert job.kind == BULK_PRICE_UPDATE.name
    assert job.params == {
        "mode": "fixed",
        "value": "-0.50",
        "ending": "0.95",
        "filters": {"category": "kitchen"},
        "all": False,
    }
    assert enqueued == [job.pk]
    assert set(prices().values()) == {"10.00"}  # nothing changed by the request itself

    execute_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result == {"updated": 4}
    assert prices() == {
        **{f"kitchen-{n:04d}": "9.95" for n in range(4)},
        "office-0000": "10.00",
        "office-0001": "10.00",
    }


@pytest.mark.django_db
def test_a_price_update_matching_few_products_stays_in_the_request(operator, settings):
    settings.PRODUCT_BULK_PRICE_INLINE_MAX_ROWS = 3
    many(3, category="kitchen")
    many(5, category="office")
    body = {"mode": "set", "value": "1", "filters": {"category": "kitchen"}}
    response = operator.post(PRICE_URL, body)
    assert response.status_code == 200
    assert response.json() == {"updated": 3, "job": None}
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_rows_already_at_the_new_price_are_not_counted_or_touched(make_product):
    same = make_product(sku="SAME", price=Decimal("5.00"))
    make_product(sku="OTHER", price=Decimal("7.00"))
    assert bulk_update_prices(mode="set", value=Decimal("5.00"), every_product=True) == 1
    assert Product.objects.get(pk=same.pk).updated_at == same.updated_at
    assert Product.objects.get(sku="OTHER").updated_at > same.updated_at


@pytest.mark.django_db
def test_price_update_uses_the_list_filters(operator, make_product):
    make_product(sku="MUG-1", name="Blue mug", price=Decimal("4.00"))
    make_product(sku="MUG-2", name="Red mug", price=Decimal("40.00"))
    make_product(sku="LAMP", name="Lamp", price=Decimal("4.00"))
    body = {"mode": "fixed", "value": "1", "filters": {"name": "mug", "price_max": 10}}
    response = operator.post(PRICE_URL, body)
    assert response.json() == {"updated": 1, "job": None}
    assert prices() == {"MUG-1": "5.00", "MUG-2": "40.00", "LAMP": "4.00"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({"mode": "double", "value": "1", "all": True}, "mode"),
        ({"mode": "set", "value": "-1", "all": True}, "value"),
        ({"mode": "set", "value": "abc", "all": True}, "value"),
        ({"mode": "percent", "value": "-101", "all": True}, "value"),
        ({"mode": "set", "value": "1", "ending": "1.50", "all": True}, "ending"),
        ({"mode": "set", "value": "1"}, "filters"),
        ({"mode": "set", "value": "1", "filters": {}}, "filters"),
        ({"mode": "set", "value": "1", "all": False}, "filters"),
        ({"mode": "set", "value": "1", "filters": {"name": ""}}, "filters"),
        ({"mode": "set", "value": "1", "filters": {"search": "   "}}, "filters"),
        ({"mode": "set", "value": "1", "filters": {"sku": None}}, "filters"),
        ({"mode": "set", "value": "1", "all": True, "filters": {"sku": "A"}}, "all"),
        ({"mode": "set", "value": "1", "all": True, "filters": {}}, "all"),
        ({"mode": "set", "value": "1", "all": "maybe"}, "all"),
        ({"mode": "set", "value": "1", "filters": {"colour": "red"}}, "filters"),
        ({"mode": "set", "value": "1", "filters": {"ordering": "price"}}, "filters"),
        ({"mode": "set", "value": "1", "filters": {"name": ["a", "b"]}}, "filters"),
        ({"mode": "set", "value": "1", "filters": {"name": "ab"}}, "filters"),
        ({"mode": "set", "value": "1", "filters": {"is_active": "perhaps"}}, "filters"),
        ({"mode": "set", "value": "1", "all": True, "dry_run": True}, "dry_run"),
    ],
)
def test_bad_price_update_input_is_a_400(operator, make_product, body, field):
    make_product(price=Decimal("3.00"))
    response = operator.post(PRICE_URL, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert set(prices().values()) == {"3.00"}


@pytest.mark.django_db
def test_a_result_too_large_for_the_column_is_a_400_changing_nothing(operator, make_product):
    make_product(sku="BIG", price=Decimal("9000000000.00"))
    make_product(sku="SMALL", price=Decimal("1.00"))
    response = operator.post(PRICE_URL, {"mode": "percent", "value": "1000", "all": True})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "price_out_of_range"
    assert prices() == {"BIG": "9000000000.00", "SMALL": "1.00"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"mode": "set", "value": "1"},  # no filters: used to change the whole catalog
        {"mode": "set", "value": "1", "filters": "category=kitchen"},  # not an object
        {"mode": "set", "value": "1", "filters[category]": "kitchen"},
        {"mode": "set", "value": "1", "all": "true"},
    ],
)
def test_a_form_encoded_price_update_is_refused_and_changes_nothing(operator, make_product, body):
    make_product(price=Decimal("3.00"))

    response = operator.post(PRICE_URL, body, format="multipart")
    form = operator.post(
        PRICE_URL, urlencode(body), content_type="application/x-www-form-urlencoded"
    )

    assert (response.status_code, form.status_code) == (415, 415)
    assert form.json()["error"]["code"] == "unsupported_media_type"
    assert set(prices().values()) == {"3.00"}


@pytest.mark.django_db
def test_without_filters_the_400_says_how_to_change_every_product(operator, make_product):
    make_product(price=Decimal("3.00"))

    response = operator.post(PRICE_URL, {"mode": "set", "value": "1"})

    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["filters"]
    assert "all: true" in message
    assert set(prices().values()) == {"3.00"}


@pytest.mark.django_db
def test_all_true_changes_every_product(operator, make_product):
    make_product(sku="A", price=Decimal("3.00"), is_active=False)
    make_product(sku="B", price=Decimal("4.00"))

    response = operator.post(PRICE_URL, {"mode": "fixed", "value": "1", "all": True})

    assert response.json() == {"updated": 2, "job": None}
    assert prices() == {"A": "4.00", "B": "5.00"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "selection",
    [
        {},
        {"filters": {}},
        {"filters": {"name": ""}},
        {"every_product": True, "filters": {"sku": "A"}},
    ],
)
def test_the_service_never_reads_a_missing_selection_as_the_whole_catalog(make_product, selection):
    make_product(sku="A", price=Decimal("3.00"))

    with pytest.raises(PlatformError) as caught:
        bulk_update_prices(mode="set", value=Decimal("1"), **selection)

    assert caught.value.status == 400
    with pytest.raises(PlatformError):
        request_bulk_price_update(mode="set", value=Decimal("1"), **selection)
    assert prices() == {"A": "3.00"}


@pytest.mark.django_db
def test_a_price_job_over_every_product_stores_the_explicit_all(
    client_for, settings, django_capture_on_commit_callbacks
):
    settings.PRODUCT_BULK_PRICE_INLINE_MAX_ROWS = 1
    many(3, price=Decimal("10.00"))

    # The test's transaction never commits: the job is created but not sent to a broker.
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for("operator").post(
            PRICE_URL, {"mode": "set", "value": "2", "all": True}
        )

    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert (job.params["all"], job.params["filters"]) == (True, {})
    assert set(prices().values()) == {"10.00"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "selection, expected",
    [({"all": True, "filters": {}}, JobStatus.COMPLETED), ({"filters": {}}, JobStatus.FAILED)],
)
def test_the_price_job_changes_every_product_only_when_its_params_say_all(selection, expected):
    many(3, price=Decimal("10.00"))
    params = {"mode": "set", "value": "2", "ending": None, **selection}
    job = Job.objects.create(kind=BULK_PRICE_UPDATE.name, params=params)

    execute_job(job.pk)

    job.refresh_from_db()
    assert job.status == expected, job.error
    assert set(prices().values()) == ({"2.00"} if expected == JobStatus.COMPLETED else {"10.00"})
