"""The scripts API as seed 000 documents it: list by category, detail with parameters and a
JSON schema, execute → 202 or 400."""

import csv

import pytest
from django.db import transaction

from core.models import Job, JobStatus
from core.services.jobs import execute_job
from core.testing.role_matrix import READ_ONLY, RoleMatrix, action
from product.models import Product
from scripts_runner.services.registry import CATEGORIES, all_scripts
from scripts_runner.services.runs import job_dir_for

# Every test here has a data directory of its own (script inputs, run folders).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dir")]


class TestScriptRoles(RoleMatrix):
    """Viewers read the catalog of scripts; operators run them."""

    list_url = "/api/scripts/"
    watched_models = (Job,)
    operations = READ_ONLY
    actions = (
        action(
            "execute",
            status=202,
            data={"script_name": "emit_lines", "parameters": [{"name": "lines", "value": 1}]},
        ),
    )

    def detail_url(self, instance):
        return f"{self.list_url}filter_products"


SEED_CATEGORIES = ["data_import", "data_processing", "shopify", "maintenance", "workflows"]


def test_list_is_organised_by_category_as_seed_000_shows(client_for):
    response = client_for("viewer").get("/api/scripts")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == SEED_CATEGORIES
    names = {category: [s["name"] for s in scripts] for category, scripts in body.items()}
    # the document's "Available Scripts", each under its heading
    assert "ftp_download" in names["data_import"]
    assert {"filter_products", "create_metafields", "categorize_products"} <= set(
        names["data_processing"]
    )
    assert "shopify_upload" in names["shopify"]
    assert "cleanup_duplicates" in names["maintenance"]
    assert "full_import" in names["workflows"]
    assert sorted(n for listed in names.values() for n in listed) == sorted(
        script.name for script in all_scripts()
    )
    upload = next(s for s in body["shopify"] if s["name"] == "shopify_upload")
    assert upload["category"] == "shopify"
    assert upload["description"]
    assert upload["credentials"] == [
        {"name": "shopify_token", "required": True, "configured": False}
    ]
    assert upload["limits"]["memory_mb"] > 0
    assert upload["parameter_count"] == len(upload["parameters"]) > 0
    assert client_for("viewer").get("/api/scripts/").json() == body


def test_every_category_key_is_a_registry_category():
    assert list(CATEGORIES) == SEED_CATEGORIES


def test_detail_gives_parameters_with_the_documents_type_words(client_for):
    response = client_for("viewer").get("/api/scripts/filter_products")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "filter_products" and body["category_label"] == "Data processing"
    schema = body["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["input_file"]
    assert schema["properties"]["reference"]["enum"] == ["sku_file", "catalog"]
    assert schema["properties"]["input_file"]["x-type"] == "file"
    params = {p["name"]: p for p in body["parameters"]}
    assert {name: p["type"] for name, p in params.items()} == {
        "input_file": "file",
        "reference": "choice",
        "sku_file": "file",
        "mode": "choice",
        "sku_column": "string",
        "drop_duplicates": "boolean",
        "output_file": "file",
        "rejected_file": "file",
    }
    assert params["mode"]["default"] == "keep_listed"
    assert params["mode"]["choices"][0]["value"] == "keep_listed"
    assert params["output_file"]["output_default"] == "kept.csv"
    assert params["output_file"]["required"] is False
    assert "kept.csv in the job's folder" in params["output_file"]["help"]
    assert params["sku_column"]["free_text"] is False
    directory = client_for("viewer").get("/api/scripts/ftp_download").json()
    assert {p["name"]: p["type"] for p in directory["parameters"]}["dest_dir"] == "directory"


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
                    # "file_path": this API's word before the seed's "file", still accepted
                    {"name": "input_file", "value": "in.csv", "type": "file_path"},
                    {"name": "sku_file", "value": "skus.txt", "type": "file"},
                    {"name": "output_file", "value": "out/kept.csv", "type": "file"},
                    {"name": "drop_duplicates", "value": False, "type": "boolean"},
                ],
            },
            format="json",
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert set(body) == {"job_id", "message", "script_name"}
    assert body["message"] == "Job created successfully"
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


def _seed_000_request(input_file: str) -> dict:
    """The request of seed 000 (POST /api/scripts/execute), word for word but the path."""
    return {
        "script_name": "filter_products",
        "parameters": [{"name": "input_file", "value": input_file, "type": "file"}],
    }


@pytest.mark.django_db(transaction=True)
def test_the_documents_literal_request_runs_and_writes_into_the_job_folder(operator, data_dir):
    """Only `input_file`, as an absolute path: the reference defaults to the catalog and the
    outputs to the job's own folder."""
    feed = data_dir / "path" / "to" / "file.csv"
    feed.parent.mkdir(parents=True)
    feed.write_text("sku,name\nKNOWN-1,Lamp\nNEW-2,Chair\nknown-1,Lamp again\n")
    Product.objects.create(sku="KNOWN-1", name="Lamp", price="10.00")

    response = operator.post("/api/scripts/execute", _seed_000_request(str(feed)), format="json")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["message"] == "Job created successfully"
    job = Job.objects.get(pk=body["job_id"])
    assert job.params["parameters"]["input_file"] == str(feed.resolve())
    assert job.params["parameters"]["reference"] == "catalog"
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    folder = job_dir_for(job.pk)
    with open(folder / "kept.csv", newline="") as handle:
        assert [row["sku"] for row in csv.DictReader(handle)] == ["KNOWN-1"]
    with open(folder / "kept.rejected.csv", newline="") as handle:
        rejected = {row["sku"]: row["reject_reason"] for row in csv.DictReader(handle)}
    assert rejected == {"NEW-2": "not_in_reference", "known-1": "duplicate_sku"}
    summary = job.result["summary"]
    assert (summary["kept"], summary["rejected"]) == (1, 2)
    assert summary["output_file"] == str(folder / "kept.csv")


def test_an_absolute_path_outside_the_data_directory_is_refused(operator, data_dir, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("sku\nA\n")

    response = operator.post("/api/scripts/execute", _seed_000_request(str(outside)), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "input_file": ["The path is outside the data directory."]
    }
    assert Job.objects.count() == 0


def test_a_missing_input_is_refused_with_its_name(operator, data_dir):
    response = operator.post(
        "/api/scripts/execute", _seed_000_request(str(data_dir / "nope.csv")), format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "input_file": ["No such file in the data directory."]
    }


def test_every_parameter_accepts_the_type_word_its_detail_shows(client_for):
    """For every registered script: declaring each parameter with the `type` that
    GET /api/scripts/{name} shows is never a type mismatch."""
    viewer = client_for("viewer")
    operator = client_for("operator")
    for script in all_scripts():
        detail = viewer.get(f"/api/scripts/{script.name}").json()
        items = [{"name": p["name"], "type": p["type"]} for p in detail["parameters"]]
        response = operator.post(
            "/api/scripts/execute",
            {"script_name": script.name, "parameters": items},
            format="json",
        )
        fields = response.json().get("error", {}).get("fields", {})  # none on a 202
        mismatches = {
            name: messages
            for name, messages in fields.items()
            if any("Declared type" in message for message in messages)
        }
        assert mismatches == {}, script.name


@pytest.mark.parametrize(
    ("script_name", "name", "word", "accepted"),
    [
        ("filter_products", "input_file", "file", True),
        ("filter_products", "input_file", "file_path", True),
        ("filter_products", "input_file", "string", False),
        ("filter_products", "mode", "string", True),
        ("filter_products", "drop_duplicates", "boolean", True),
        ("filter_products", "drop_duplicates", "string", False),
        ("ftp_download", "dest_dir", "directory", True),
        ("ftp_download", "dest_dir", "file", True),
        ("ftp_download", "port", "integer", True),
        ("ftp_download", "port", "string", False),
        ("cleanup_duplicates", "extensions", "array", True),
    ],
)
def test_declared_type_words(operator, data_dir, script_name, name, word, accepted):
    response = operator.post(
        "/api/scripts/execute",
        {"script_name": script_name, "parameters": [{"name": name, "type": word}]},
        format="json",
    )
    messages = response.json().get("error", {}).get("fields", {}).get(name, [])
    assert any("Declared type" in message for message in messages) is not accepted
