"""The OpenAPI document is honest: both prefixes, every error status an operation can return,
unknown fields refused, ids typed as they are, and real responses that match it."""

import copy
import io
import re

import jsonschema
import pytest
from drf_spectacular.validation import validate_schema

from core.models import JobStatus
from core.services.jobs import execute_job
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_the_document_is_valid_openapi(document):
    validate_schema(document)


def test_yaml_and_json_documents_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/schema/", {"format": "json"}).json()["openapi"].startswith("3.")


def test_every_operation_is_listed_under_api_and_api_v1(document):
    paths = document["paths"]
    plain = {p for p in paths if not p.startswith("/api/v1/")}
    v1 = {p for p in paths if p.startswith("/api/v1/")}
    assert {p.replace("/api/", "/api/v1/", 1) for p in plain} == v1
    assert len(plain) >= 30
    for path in plain:
        twin = paths[path.replace("/api/", "/api/v1/", 1)]
        assert {m for m in paths[path] if m in METHODS} == {m for m in twin if m in METHODS}
        for method in METHODS & set(paths[path]):
            assert twin[method]["operationId"] == "v1_" + paths[path][method]["operationId"]
            assert twin[method].get("tags") == paths[path][method].get("tags")


def test_operation_ids_are_unique_without_numbered_fallbacks(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if re.search(r"_\d+$", i)]


def error_ref(response):
    return response["content"]["application/json"]["schema"]["$ref"]


def test_every_operation_documents_the_errors_it_can_return(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        secured = {} not in operation.get("security", [{}])
        has_body = method in {"post", "put", "patch", "delete"}
        where = {p["in"] for p in operation.get("parameters", [])}
        expected = set()
        if secured:
            expected |= {"401", "403", "429"}
        if has_body:
            expected |= {"400", "413", "415"}
        if "path" in where:
            expected |= {"400", "404"}
        if "query" in where:
            expected.add("400")
        missing = expected - set(responses)
        assert not missing, (method, path, missing)
        for status in expected:
            assert error_ref(responses[status]) == "#/components/schemas/Error", (path, status)
        if "429" in responses:
            assert "Retry-After" in responses["429"]["headers"], (method, path)


def test_public_operations_document_their_own_errors(document):
    login = document["paths"]["/api/auth/login"]["post"]["responses"]
    assert {"200", "400", "401", "413", "415", "429"} <= set(login)
    assert {} in document["paths"]["/api/auth/login"]["post"]["security"]
    refresh = document["paths"]["/api/auth/refresh"]["post"]["responses"]
    assert {"200", "400", "401"} <= set(refresh)


def test_conflicts_are_documented_where_they_happen(document):
    paths = document["paths"]
    for path, method in [
        ("/api/jobs/{id}/cancel/", "post"),
        ("/api/jobs/{id}/retry/", "post"),
        ("/api/auth/users/{id}/", "put"),
        ("/api/auth/users/{id}/", "patch"),
    ]:
        assert "409" in paths[path][method]["responses"], (path, method)


@pytest.mark.parametrize(
    "component",
    [
        "LoginRequest",
        "RegisterRequest",
        "EchoJobRequest",
        "AdminUserUpdateRequest",
        "PatchedAdminUserUpdateRequest",
        "ProductRequest",
        "PatchedProductRequest",
        "ExecuteScriptRequest",
        "ParameterValueRequest",
        "UrlImportRequest",
        "WebhookRequest",
    ],
)
def test_request_bodies_that_refuse_unknown_fields_say_so(document, component):
    assert document["components"]["schemas"][component]["additionalProperties"] is False


def test_responses_do_not_claim_to_refuse_extra_fields(document):
    assert "additionalProperties" not in document["components"]["schemas"]["Job"]


def test_ids_are_typed_as_they_are(document):
    paths = document["paths"]
    for path in ["/api/jobs/{id}/", "/api/imports/{id}/", "/api/jobs/{id}/cancel/"]:
        method = "post" if path.endswith("cancel/") else "get"
        (parameter,) = [p for p in paths[path][method]["parameters"] if p["in"] == "path"]
        assert parameter["schema"] == {"type": "string", "format": "uuid"}, path
    (product_id,) = paths["/api/products/{id}/"]["get"]["parameters"]
    assert product_id["schema"]["type"] == "integer"


def test_the_imports_list_and_running_jobs_are_pages(document):
    paths = document["paths"]
    for path, component in [
        ("/api/imports/", "PaginatedImportList"),
        ("/api/jobs/running/", "PaginatedJobList"),
        ("/api/jobs/", "PaginatedJobList"),
    ]:
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{component}"}, path
        page = document["components"]["schemas"][component]
        assert {"count", "next", "previous", "results"} <= set(page["properties"])
    names = {p["name"] for p in paths["/api/jobs/running/"]["get"]["parameters"]}
    assert {"owner", "status", "kind", "created_after", "page", "page_size"} <= names


# --- Real responses against the document ------------------------------------------------------


def json_schema(node):
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` becomes a union with null."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def response_validator(document):
    components = json_schema(copy.deepcopy(document["components"]))

    def validate(schema, body, where):
        root = {**json_schema(copy.deepcopy(schema)), "components": components}
        errors = list(jsonschema.Draft202012Validator(root).iter_errors(body))
        assert not errors, (where, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]])

    return validate


@pytest.fixture
def catalog(client_for):
    """One of everything a GET can show, created through the API."""
    admin = client_for("admin", is_staff=True)
    product = admin.post(
        "/api/products/",
        {"sku": "S-1", "name": "Lamp", "description": "Brass", "price": "9.90", "is_active": True},
        format="json",
    ).json()
    webhook = admin.post(
        "/api/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "event_types": ["product.created"]},
        format="json",
    ).json()
    csv = io.BytesIO(b"sku,name,description,price,is_active\nA-1,Lamp,Brass,10.00,true\n")
    csv.name = "p.csv"
    upload = admin.post("/api/upload", {"file": csv}, format="multipart")
    assert upload.status_code == 202, upload.content
    return {
        "admin": admin,
        "{id}": {
            "products": product["id"],
            "webhooks": webhook["id"],
            "imports": upload.json()["job_id"],
            "users": admin.user.pk,
        },
        "{webhook_pk}": webhook["id"],
        "{script_name}": "filter_products",
    }


@pytest.mark.django_db(transaction=True)
def test_real_get_responses_match_the_document(document, catalog):
    admin = catalog["admin"]
    failed = make_job(owner=admin.user, params={"lines": 2, "fail_at_line": 1})
    execute_job(failed.pk)
    make_job(owner=admin.user, status=JobStatus.RUNNING)
    validate = response_validator(document)
    checked = 0
    for path, method, operation in operations(document):
        if method != "get":
            continue
        url = path.replace("{webhook_pk}", str(catalog["{webhook_pk}"]))
        url = url.replace("{script_name}", catalog["{script_name}"])
        if "{id}" in url:
            resource = url.removeprefix("/api/").removeprefix("v1/").split("/")[0]
            if resource == "auth":
                resource = "users"
            ids = {**catalog["{id}"], "jobs": failed.pk}
            url = url.replace("{id}", str(ids.get(resource, "0")))
        response = admin.get(url)
        documented = operation["responses"]
        assert str(response.status_code) in documented, (url, response.status_code)
        content = documented[str(response.status_code)].get("content", {})
        if "application/json" not in content:
            continue
        validate(content["application/json"]["schema"], response.json(), url)
        checked += 1
    assert checked >= 30  # every JSON GET operation, under both prefixes


def test_error_responses_match_the_document(document, api_client, client_for):
    validate = response_validator(document)
    error = {"$ref": "#/components/schemas/Error"}
    unauthenticated = api_client.get("/api/jobs/")
    assert unauthenticated.status_code == 401
    validate(error, unauthenticated.json(), "401")
    invalid = client_for("viewer").get("/api/jobs/", {"created_after": "2025-01-01T00:00+20:00"})
    validate(error, invalid.json(), "400")
    missing = client_for("viewer").get("/api/jobs/00000000-0000-0000-0000-000000000000/")
    validate(error, missing.json(), "404")
