"""Every API error is JSON in one shape; bad input is a 4xx, never a 500."""

import json

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


# --- JSON only ------------------------------------------------------------------------------


def test_form_encoded_body_to_a_json_endpoint_is_415(client_for):
    client = client_for("operator")
    response = client.post(
        "/api/jobs/diagnostics", "lines=3", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/x-www-form-urlencoded" in error["message"]


def test_multipart_body_to_a_json_endpoint_is_415(client_for):
    client = client_for("operator")
    response = client.post("/api/jobs/diagnostics", {"lines": "3"}, format="multipart")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_empty_form_body_is_refused_before_it_can_read_as_false_booleans(client_for, make_user):
    admin = client_for("admin")
    target = make_user("operator", is_staff=True)
    response = admin.put(
        f"/api/auth/users/{target.pk}/", "", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    target.refresh_from_db()
    assert target.is_active and target.is_staff


def test_text_bodies_are_415(client_for):
    client = client_for("operator")
    response = client.post("/api/jobs/diagnostics", "lines: 3", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_the_admin_console_still_takes_forms(client, make_user):
    make_user("admin", email="boss@example.com", is_staff=True)
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "boss@example.com", "password": "S3cure-pass-phrase!"},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_browsable_api_still_renders(client, make_user):
    make_user("viewer", email="reader@example.com")
    assert client.login(email="reader@example.com", password="S3cure-pass-phrase!")
    response = client.get("/api/jobs/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


# --- Too many fields -----------------------------------------------------------------------


def many_fields(count=1001) -> str:
    return "&".join(f"f{n}=1" for n in range(count))


@pytest.mark.parametrize("path", ["/api/jobs/", "/api/auth/login", "/api/auth/profile"])
def test_more_than_1000_query_fields_is_a_400_even_before_authentication(api_client, path):
    response = api_client.get(f"{path}?{many_fields()}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "too_many_fields"
    assert "1000" in error["message"]


def test_more_than_1000_query_fields_is_a_400_for_signed_in_users(client_for):
    response = client_for("viewer").get(f"/api/jobs/?{many_fields()}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_fields"


def test_more_than_1000_form_fields_in_an_upload_is_a_400(client_for):
    client = client_for("operator")
    body = {f"f{n}": "1" for n in range(1001)}
    response = client.post("/api/upload", body, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_fields"


def test_more_than_1000_form_fields_to_a_json_endpoint_is_refused(api_client):
    response = api_client.post(
        "/api/auth/login", many_fields(), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_request_django_refuses_outside_a_view_gets_the_specific_json_error(rf):
    from django.core.exceptions import TooManyFieldsSent

    from config.urls import handler400

    response = handler400(rf.get("/api/jobs/"), TooManyFieldsSent("too many"))
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "too_many_fields"
    page = handler400(rf.get("/admin/"), TooManyFieldsSent("too many"))
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


# --- Pagination ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "0", "-1", "null", "1.5"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(client_for, value):
    response = client_for("viewer").get("/api/jobs/", {"page_size": value})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"page_size": ["Enter a whole number from 1."]}


def test_a_page_size_over_the_maximum_gives_the_maximum(client_for):
    response = client_for("viewer").get("/api/jobs/", {"page_size": "100000"})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["abc", "0", "99"])
def test_a_page_that_does_not_exist_is_a_404(client_for, value):
    response = client_for("viewer").get("/api/jobs/", {"page": value})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
