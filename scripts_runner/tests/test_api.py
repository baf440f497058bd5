"""The scripts API: list by category, detail with JSON schema, execute → 202 or 400."""

import pytest
from django.db import transaction

from core.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client_for, data_dir):
    return client_for("operator")


def test_list_groups_every_script_by_category(client_for):
    response = client_for("viewer").get("/api/scripts")
    assert response.status_code == 200
    groups = {group["category"]: group for group in response.json()["categories"]}
    assert list(groups) == ["data_import", "data_processing", "shopify", "maintenance", "workflows"]
    names = {c: {s["name"] for s in g["scripts"]} for c, g in groups.items()}
    assert {"ftp_download"} <= names["data_import"]
    assert {"filter_products", "categorize_products"} <= names["data_processing"]
    assert {"create_metafields", "shopify_upload"} <= names["shopify"]
    assert {"cleanup_duplicates", "emit_lines"} <= names["maintenance"]
    assert {"full_import"} <= names["workflows"]
    upload = next(s for s in groups["shopify"]["scripts"] if s["name"] == "shopify_upload")
    assert upload["credentials"] == [
        {"name": "shopify_token", "required": True, "configured": False}
    ]
    assert upload["limits"]["memory_mb"] > 0
    assert client_for("viewer").get("/api/scripts/").status_code == 200


def test_detail_gives_parameters_and_a_json_schema(client_for):
    response = client_for("viewer").get("/api/scripts/filter_products")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "filter_products" and body["category_label"] == "Data processing"
    schema = body["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) == {"input_file", "output_file"}
    assert schema["properties"]["reference"]["enum"] == ["sku_file", "catalog"]
    assert schema["properties"]["input_file"]["x-type"] == "file_path"
    params = {p["name"]: p for p in body["parameters"]}
    assert params["mode"]["default"] == "keep_listed"
    assert params["mode"]["choices"][0]["value"] == "keep_listed"


def test_detail_of_an_unknown_script_is_404(client_for):
    response = client_for("viewer").get("/api/scripts/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_execute_validates_stores_and_queues_a_job(
    operator, data_dir, django_capture_on_commit_callbacks
):
    (data_dir / "in.csv").write_text("sku\nA\n")
    (data_dir / "skus.txt").write_text("A\n")
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(
            "/api/scripts/execute",
            {
                "script_name": "filter_products",
                "parameters": [
                    {"name": "input_file", "value": "in.csv", "type": "file_path"},
                    {"name": "sku_file", "value": "skus.txt"},
                    {"name": "output_file", "value": "out/kept.csv", "type": "file_path"},
                    {"name": "drop_duplicates", "value": False, "type": "boolean"},
                ],
            },
            format="json",
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert set(body) == {"job_id", "message", "script_name"}
    job = Job.objects.get(pk=body["job_id"])
    assert job.kind == "scripts.run" and job.queue == "scripts"
    assert job.owner == operator.user
    root = data_dir.resolve()
    assert job.params == {
        "script_name": "filter_products",
        "parameters": {
            "input_file": str(root / "in.csv"),
            "reference": "sku_file",
            "sku_file": str(root / "skus.txt"),
            "mode": "keep_listed",
            "sku_column": "sku",
            "drop_duplicates": False,
            "output_file": str(root / "out" / "kept.csv"),
        },
    }
    assert len(callbacks) == 1  # enqueued after commit


def test_execute_lists_every_problem_by_parameter_name(operator, data_dir):
    response = operator.post(
        "/api/scripts/execute",
        {
            "script_name": "emit_lines",
            "parameters": [
                {"name": "lines", "value": 0, "type": "integer"},
                {"name": "interval_ms", "value": "fast"},
                {"name": "fail", "value": True, "type": "string"},
                {"name": "colour", "value": "red"},
                {"name": "lines", "value": 5},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters"
    assert error["fields"] == {
        "colour": ["Unknown parameter."],
        "fail": ["Declared type 'string' does not match the parameter's type 'boolean'."],
        "lines": ["Must be at least 1.", "Given more than once."],
        "interval_ms": ["Expected an integer."],
    }
    assert Job.objects.count() == 0


def test_execute_reports_missing_required_and_path_escapes(operator, data_dir):
    response = operator.post(
        "/api/scripts/execute",
        {
            "script_name": "categorize_products",
            "parameters": [
                {"name": "input_file", "value": "../../etc/passwd"},
                {"name": "rules_file", "value": "/etc/hosts"},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "input_file": ["'..' is not allowed in paths."],
        "rules_file": ["The path is outside the data directory."],
        "output_file": ["This parameter is required."],
    }


def test_execute_of_an_unknown_script_names_script_name(operator):
    response = operator.post("/api/scripts/execute", {"script_name": "rm_rf"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"script_name": ["Unknown script 'rm_rf'."]}


def test_execute_rejects_unknown_body_fields(operator):
    response = operator.post(
        "/api/scripts/execute",
        {"script_name": "emit_lines", "parameters": [], "priority": "high"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"priority": ["Unknown field."]}


def test_viewers_may_list_but_not_execute(client_for, data_dir):
    viewer = client_for("viewer")
    response = viewer.post("/api/scripts/execute", {"script_name": "emit_lines"}, format="json")
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_anonymous_clients_are_refused(api_client):
    assert api_client.get("/api/scripts").status_code == 401


def test_the_stored_job_runs_with_the_validated_values(operator, data_dir):
    with transaction.atomic():
        response = operator.post(
            "/api/scripts/execute",
            {"script_name": "emit_lines", "parameters": [{"name": "lines", "value": 3}]},
            format="json",
        )
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.params["parameters"] == {
        "lines": 3,
        "interval_ms": 0,
        "progress_every": 0,
        "fail": False,
    }
