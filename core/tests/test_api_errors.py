"""Every API error is JSON in one shape; bad input is a 4xx, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


def test_malformed_json_is_400_with_reason(client_for):
    client = client_for("operator")
    response = client.post(
        "/api/jobs/diagnostics", data='{"lines": 3,', content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parse_error"
    assert "JSON" in error["message"]


def test_wrong_types_name_the_field(client_for):
    client = client_for("operator")
    response = client.post("/api/jobs/diagnostics", {"lines": "many"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["lines"] == ["A valid integer is required."]


def test_unknown_fields_are_refused(client_for):
    client = client_for("operator")
    response = client.post("/api/jobs/diagnostics", {"lines": 1, "colour": "red"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"colour": ["Unknown field."]}


def test_non_object_body_is_400(client_for):
    client = client_for("operator")
    response = client.post("/api/jobs/diagnostics", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_oversized_body_is_413(client_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = client_for("operator")
    response = client.post("/api/jobs/diagnostics", {"lines": 1, "pad": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_unknown_job_is_json_404(client_for):
    response = client_for("viewer").get("/api/jobs/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_in_the_error_shape(client_for):
    response = client_for("admin").delete("/api/jobs/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_schema_documents_every_endpoint(client_for):
    response = client_for("viewer").get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/auth/login",
        "/api/auth/register",
        "/api/jobs/{id}/cancel",
        "/api/jobs/stats/summary",
        "/api/jobs/{id}/logs",
    ]:
        assert any(p.rstrip("/") == path for p in paths), path
