"""The shared filters (core.filters) on every list that uses them: bad values are a 400
naming the parameter, never a 500 and never a silently ignored filter."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Job, JobStatus
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db

OUT_OF_RANGE_OFFSETS = ["+16:00", "-16:00", "+23:59", "-23:59:59"]


@pytest.fixture
def deliveries_url(admin):
    created = admin.post(
        "/api/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "event_types": ["product.created"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    return f"/api/webhooks/{created.json()['id']}/deliveries/"


def date_time_filters(deliveries_url):
    return [
        ("/api/jobs/", "created_after"),
        ("/api/jobs/", "created_before"),
        ("/api/products/", "created_after"),
        ("/api/products/", "created_before"),
        ("/api/products/", "updated_after"),
        (deliveries_url, "created_after"),
        (deliveries_url, "created_before"),
    ]


@pytest.mark.parametrize("offset", OUT_OF_RANGE_OFFSETS)
def test_a_utc_offset_beyond_15_59_is_a_400_naming_the_parameter(admin, deliveries_url, offset):
    for url, parameter in date_time_filters(deliveries_url):
        response = admin.get(url, {parameter: f"2025-01-15T10:30:00{offset}"})
        assert response.status_code == 400, (url, parameter, response.content)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["fields"] == {parameter: ["The UTC offset must be within ±15:59."]}
        assert error["message"].startswith(f"{parameter}: ")


@pytest.mark.parametrize(
    "value", ["2025-13-01T00:00:00Z", "10000-01-01T00:00:00Z", "2025-01-01T00:00:00+24:00", "x"]
)
def test_impossible_date_times_are_a_400_naming_the_parameter(admin, deliveries_url, value):
    for url, parameter in date_time_filters(deliveries_url):
        response = admin.get(url, {parameter: value})
        assert response.status_code == 400, (url, parameter, response.content)
        assert list(response.json()["error"]["fields"]) == [parameter]


@pytest.mark.parametrize(
    "value", ["2025-01-15T10:30:00+15:59", "0001-01-01T00:00:00+15:59", "9999-12-31T23:59:59-15:59"]
)
def test_offsets_up_to_15_59_and_extreme_dates_are_answered(admin, deliveries_url, value):
    for url, parameter in date_time_filters(deliveries_url):
        response = admin.get(url, {parameter: value})
        assert response.status_code == 200, (url, parameter, response.content)


def test_created_range_on_jobs_honours_the_offset(admin):
    job = make_job(owner=admin.user)
    created = timezone.now() - timedelta(hours=2)
    Job.objects.filter(pk=job.pk).update(created_at=created)
    # The same instant written in UTC+05:30: inclusive after, exclusive before.
    local = (created + timedelta(hours=5, minutes=30)).replace(tzinfo=None).isoformat()
    after = admin.get("/api/jobs/", {"created_after": f"{local}+05:30"}).json()["results"]
    before = admin.get("/api/jobs/", {"created_before": f"{local}+05:30"}).json()["results"]
    assert [row["id"] for row in after] == [str(job.pk)]
    assert before == []


def test_kind_filter_accepts_a_kind_alias(admin):
    imported = make_job(kind="catalog.import", owner=admin.user)
    make_job(kind="diagnostics.echo", owner=admin.user, status=JobStatus.COMPLETED)
    by_alias = admin.get("/api/jobs/", {"kind": "import_csv_products"}).json()["results"]
    by_name = admin.get("/api/jobs/", {"kind": "catalog.import"}).json()["results"]
    assert [row["id"] for row in by_alias] == [str(imported.pk)]
    assert by_name == by_alias


def test_boolean_filters_refuse_what_is_not_a_boolean(admin, deliveries_url):
    for url, parameter in [
        ("/api/products/", "is_active"),
        ("/api/webhooks/", "is_enabled"),
        (deliveries_url, "is_test"),
        ("/api/auth/users/", "is_active"),
        ("/api/auth/users/", "is_staff"),
    ]:
        response = admin.get(url, {parameter: "banana"})
        assert response.status_code == 400, (url, parameter, response.content)
        assert response.json()["error"]["fields"] == {parameter: ["Enter true or false."]}
        assert admin.get(url, {parameter: "false"}).status_code == 200
