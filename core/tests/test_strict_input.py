"""Behaviour the schema fuzz test (test_schema_fuzz.py) asked for, each pinned on its own:
type-strict JSON bodies, NUL in JSON refused, unknown ordering fields refused, job subject
filters checked, and the document stating what request strings and filters refuse."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_string_where_a_boolean_is_expected_is_a_400(operator):
    response = operator.post("/api/jobs/diagnostics/", {"unsafe": "true"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"unsafe": ["Must be a valid boolean."]}


def test_a_number_where_a_string_is_expected_is_a_400(client_for):
    admin = client_for("admin")
    response = admin.patch("/api/auth/profile", {"last_name": 0}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"last_name": ["Not a valid string."]}


def test_decimals_are_strings_or_json_numbers_never_other_types(admin):
    body = {"sku": "D-1", "name": "Lamp", "price": True}
    response = admin.post("/api/products/", body, format="json")
    assert response.status_code == 400
    assert "price" in response.json()["error"]["fields"]
    assert admin.post("/api/products/", {**body, "price": [9.9]}, format="json").status_code == 400
    assert admin.post("/api/products/", {**body, "price": "9.90"}, format="json").status_code == 201
    created = admin.post("/api/products/", {**body, "sku": "D-2", "price": 29.99}, format="json")
    assert created.status_code == 201 and created.json()["price"] == "29.99"
    too_fine = admin.post("/api/products/", {**body, "sku": "D-3", "price": 1.234}, format="json")
    assert too_fine.status_code == 400


def test_an_unknown_ordering_field_is_a_400_listing_the_allowed_ones(viewer):
    response = viewer.get("/api/jobs/", {"ordering": "-nope"})
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["ordering"][0]
    assert "-nope" in message and "created_at" in message
    assert viewer.get("/api/jobs/", {"ordering": "-created_at,kind"}).status_code == 200
    assert viewer.get("/api/jobs/", {"ordering": ""}).status_code == 200


def test_job_subject_filters_are_checked(viewer):
    bad_type = viewer.get("/api/jobs/", {"subject_type": "codes"})
    assert bad_type.status_code == 400
    assert "subject_type" in bad_type.json()["error"]["fields"]
    assert viewer.get("/api/jobs/", {"subject_id": "a b"}).status_code == 400
    ok = viewer.get("/api/jobs/", {"subject_type": "codes.codebatch", "subject_id": "12"})
    assert ok.status_code == 200


def test_the_document_states_what_requests_refuse(client):
    document = client.get("/api/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["LoginRequest"]["properties"]["password"]["pattern"] == r"^[^\x00]*$"
    as_string, as_number = schemas["ProductRequest"]["properties"]["price"]["oneOf"]
    assert as_string["pattern"] == r"^\d{1,10}(?:\.\d{1,2})?$"  # no sign: never negative
    assert as_number == {"type": "number", "minimum": 0.0, "maximum": 9999999999.99}
    jobs = {p["name"]: p for p in document["paths"]["/api/jobs/"]["get"]["parameters"]}
    assert jobs["created_after"]["allowEmptyValue"] is True
    assert "created_at" in jobs["ordering"]["schema"]["pattern"]
    assert jobs["subject_type"]["schema"]["pattern"]
