"""Seed 002's clients call /api/v1/...: the same views answer there, and links stay there."""

import pytest
from django.urls import reverse

from core.models import JobStatus
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db


def test_seed_002s_job_endpoints_answer_under_api_v1(
    client_for, django_capture_on_commit_callbacks
):
    client = client_for("operator")
    failed = make_job(owner=client.user, status=JobStatus.FAILED)
    running = make_job(owner=client.user, status=JobStatus.RUNNING)
    listed = client.get("/api/v1/jobs")
    assert listed.status_code == 200
    assert {row["id"] for row in listed.json()["results"]} == {str(failed.pk), str(running.pk)}
    detail = client.get(f"/api/v1/jobs/{failed.pk}")
    assert detail.status_code == 200
    assert detail.json()["job_id"] == str(failed.pk)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(f"/api/v1/jobs/{failed.pk}/retry").status_code == 201
    assert client.post(f"/api/v1/jobs/{running.pk}/cancel").status_code == 202
    summary = client.get("/api/v1/jobs/stats/summary")
    assert summary.status_code == 200
    assert summary.json()["total"] == 3


def test_seed_002s_product_endpoints_answer_under_api_v1(client_for):
    client = client_for("operator")
    created = client.post(
        "/api/v1/products",
        {"sku": "V1-1", "name": "Lamp", "description": "", "price": "10.00", "is_active": True},
        format="json",
    )
    assert created.status_code == 201, created.content
    product_id = created.json()["id"]
    assert client.get("/api/v1/products", {"sku": "v1-1"}).json()["count"] == 1
    patched = client.patch(f"/api/v1/products/{product_id}", {"price": "12.50"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["price"] == "12.50"
    assert client.get(f"/api/products/{product_id}").json()["price"] == "12.50"
    assert client.delete(f"/api/v1/products/{product_id}").status_code == 204


def test_pagination_links_keep_the_prefix_the_client_used(client_for):
    client = client_for("viewer")
    for _ in range(3):
        make_job(owner=client.user)
    v1 = client.get("/api/v1/jobs/", {"page_size": 1, "page": 2}).json()
    assert v1["next"].startswith("http://testserver/api/v1/jobs/?")
    assert v1["previous"].startswith("http://testserver/api/v1/jobs/?")
    plain = client.get("/api/jobs/", {"page_size": 1}).json()
    assert plain["next"].startswith("http://testserver/api/jobs/?")
    assert "page=2" in plain["next"] and "page_size=1" in plain["next"]


def test_url_names_reverse_to_api_and_v1_names_to_api_v1():
    # The routes take an optional trailing slash; reverse() writes them without it.
    assert reverse("job-list") == "/api/jobs"
    assert reverse("v1:job-list") == "/api/v1/jobs"
    assert reverse("job-detail", args=["0b4e7a0e-5b8e-4d0e-9d5a-3e7f7f0c1a11"]).startswith(
        "/api/jobs/0b4e7a0e"
    )
    assert reverse("auth-login") == "/api/auth/login"
    assert reverse("v1:auth-login") == "/api/v1/auth/login"
    assert reverse("v1:product-detail", args=[7]) == "/api/v1/products/7"


def test_errors_under_api_v1_keep_the_standard_shape(api_client, client_for):
    assert api_client.get("/api/v1/jobs/").json()["error"]["code"] == "not_authenticated"
    missing = client_for("viewer").get("/api/v1/no-such-thing/")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not found."}}
