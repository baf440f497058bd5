"""The full_import workflow: every step for real (FTP on loopback, sandboxed children, the
catalog import through import_manager's service — its ImportRun and `import.completed`
webhook —, the fake Shopify), and stopping at a failed step."""

import json

import pytest

from core.models import JobStatus
from devtools.fakes.shopify import FakeShopify
from import_manager.models import ImportRowError, ImportRun
from product.models import Product
from webhook.models import DeliveryStatus, EventType, WebhookDelivery
from webhook.services import delivery

from .ftp_server import FTP_PASSWORD, FTP_USER, ftp_server
from .helpers import log_lines, run_script

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKEN = "shpat_workflow_token_123"
FEED_OLD = "sku,title,description,price,color,weight_g\nOLD-1,Old,,1.00,red,1\n"
FEED = (
    "sku,title,description,price,color,weight_g\n"
    "SN-1,Trail sneaker,Light running shoe,89.90,red,310\n"
    "BP-1,City backpack,Roomy bag,120.00,black,950\n"
    "SN-1,Repeated sneaker,,1.00,,\n"
    ",No sku,,1.00,,\n"
    "XX-1,Mystery item,Unknown thing,5.00,green,10\n"
)
RULES = {
    "rules": [
        {"category": "Shoes", "keywords": ["sneaker"]},
        {"category": "Bags", "regex": "backpacks?"},
    ]
}


@pytest.fixture
def remote(tmp_path):
    root = tmp_path / "remote"
    root.mkdir()
    (root / "products_2024-05-01.csv").write_text(FEED_OLD)
    (root / "products_2024-05-02.csv").write_text(FEED)
    return root


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("SCRIPT_CREDENTIAL_FTP_PASSWORD", FTP_PASSWORD)
    monkeypatch.setenv("SCRIPT_CREDENTIAL_SHOPIFY_TOKEN", TOKEN)


def workflow_params(port, **extra):
    return {
        "host": "127.0.0.1",
        "port": port,
        "username": FTP_USER,
        "pattern": "products_*.csv",
        "rules_file": "rules.json",
        "metafield_namespace": "specs",
        **extra,
    }


def test_runs_every_step_into_the_catalog_and_shopify(data_dir, remote, credentials):
    (data_dir / "rules.json").write_text(json.dumps(RULES))
    with ftp_server(remote) as ftp, FakeShopify(TOKEN) as shop:
        job = run_script(
            "full_import",
            workflow_params(ftp.port, upload_to_shopify=True, shop_domain=shop.domain),
        )
        assert job.status == JobStatus.COMPLETED, job.error
        uploaded = {p["variants"][0]["sku"]: p for p in shop.products.values()}
    steps = job.result["steps"]
    assert [(s["step"], s["status"]) for s in steps] == [
        ("download", "completed"),
        ("filter", "completed"),
        ("categorize", "completed"),
        ("metafields", "completed"),
        ("prepare_import", "completed"),
        ("catalog_import", "completed"),
        ("shopify_upload", "completed"),
    ]
    assert job.progress == 100
    # the newest feed, minus the repeated and the SKU-less rows
    catalog = {p.sku: p for p in Product.objects.all()}
    assert set(catalog) == {"SN-1", "BP-1", "XX-1"}
    assert catalog["SN-1"].name == "Trail sneaker"
    assert catalog["SN-1"].category == "Shoes"
    assert catalog["BP-1"].category == "Bags"
    assert catalog["XX-1"].category == ""
    assert str(catalog["SN-1"].price) == "89.90"
    assert catalog["SN-1"].attributes == {"color": "red", "weight_g": "310"}
    assert steps[5]["summary"]["created"] == 3
    assert set(uploaded) == {"SN-1", "BP-1", "XX-1"}
    colour = {m["key"]: m for m in uploaded["SN-1"]["metafields"]}["color"]
    assert colour == {
        "namespace": "specs",
        "key": "color",
        "type": "single_line_text_field",
        "value": "red",
    }
    lines = log_lines(job)
    headers = [line for line in lines if line.startswith("=== Step")]
    assert headers[0] == "=== Step 1/7: download ===" and headers[-1].endswith("shopify_upload ===")
    assert not any(TOKEN in line or FTP_PASSWORD in line for line in lines)


def test_stops_at_the_first_failed_step(data_dir, remote, credentials):
    (data_dir / "rules.json").write_text(json.dumps([{"category": "Broken", "regex": "(["}]))
    with ftp_server(remote) as ftp:
        job = run_script("full_import", workflow_params(ftp.port))
    assert job.status == JobStatus.FAILED
    first = job.error.split("\n\n")[0]
    assert first.startswith("ScriptRunFailed: Step 3 'categorize' failed:")
    assert "Rule 1: invalid regex" in first
    lines = log_lines(job)
    headers = [line for line in lines if line.startswith("=== Step")]
    assert headers == [
        "=== Step 1/7: download ===",
        "=== Step 2/7: filter ===",
        "=== Step 3/7: categorize ===",
    ]
    assert Product.objects.count() == 0  # the catalog import never ran
    run_dir = data_dir / "script_runs" / str(job.pk) / "steps"
    assert (run_dir / "filtered.csv").exists()
    assert not (run_dir / "metafields.json").exists()


def test_a_feed_missing_on_the_server_fails_the_workflow_early(data_dir, remote, credentials):
    (data_dir / "rules.json").write_text(json.dumps(RULES))
    with ftp_server(remote) as ftp:
        job = run_script("full_import", workflow_params(ftp.port, pattern="stock_*.csv"))
    assert job.status == JobStatus.FAILED
    assert "Step 2/7: filter failed: ValueError: no file on the server matches" in job.error
    assert Product.objects.count() == 0


def test_upload_needs_a_shop_and_a_token_at_launch(data_dir, monkeypatch):
    from scripts_runner.services.runs import InvalidScriptParameters, create_script_job

    monkeypatch.delenv("SCRIPT_CREDENTIAL_SHOPIFY_TOKEN", raising=False)
    (data_dir / "rules.json").write_text(json.dumps(RULES))
    with pytest.raises(InvalidScriptParameters) as caught:
        create_script_job("full_import", workflow_params(21, upload_to_shopify=True))
    assert set(caught.value.fields) == {"shop_domain", "credentials"}


@pytest.fixture
def webhook_receiver(settings, monkeypatch, receiver, make_webhook):
    """A webhook for `import.completed` pointing at a real HTTP server on 127.0.0.1; the
    delivery attempts are published to a list, not the broker, and made in-process (a session
    worker started by an e2e test would otherwise race this test for them)."""
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    published = []
    monkeypatch.setattr(
        delivery, "_publish", lambda delivery_id, countdown: published.append(delivery_id)
    )
    receiver.webhook = make_webhook(receiver.url, event_types=[EventType.IMPORT_COMPLETED])
    receiver.published = published
    return receiver


def test_the_catalog_step_records_its_import_and_sends_import_completed(
    data_dir, remote, credentials, webhook_receiver
):
    (data_dir / "rules.json").write_text(json.dumps(RULES))
    with ftp_server(remote) as ftp:
        job = run_script("full_import", workflow_params(ftp.port))
    assert job.status == JobStatus.COMPLETED, job.error

    run = ImportRun.objects.get(job=job)
    assert (run.filename, run.file_format, run.dry_run) == ("catalog_import.csv", "csv", False)
    assert run.stored_path == f"script_runs/{job.pk}/steps/catalog_import.csv"
    assert not ImportRowError.objects.filter(job=job).exists()

    sent = WebhookDelivery.objects.get(webhook=webhook_receiver.webhook)
    assert sent.event_type == "import.completed"
    data = json.loads(sent.request_body)["data"]
    assert (data["job_id"], data["kind"]) == (str(job.pk), "scripts.run")
    summary = data["summary"]
    assert summary["status"] == "completed"
    assert (summary["filename"], summary["total_rows"], summary["created"]) == (
        "catalog_import.csv",
        3,
        3,
    )
    assert summary["completed_at"] >= summary["started_at"]

    assert webhook_receiver.published == [sent.pk]
    delivery.attempt_delivery(sent.pk)
    received = webhook_receiver.wait_for(1)
    assert received[0].json()["data"]["summary"]["created"] == 3
    sent.refresh_from_db()
    assert sent.status == DeliveryStatus.SUCCEEDED


def test_a_dry_run_catalog_step_is_recorded_and_announced_as_a_dry_run(
    data_dir, remote, credentials, webhook_receiver
):
    (data_dir / "rules.json").write_text(json.dumps(RULES))
    with ftp_server(remote) as ftp:
        job = run_script("full_import", workflow_params(ftp.port, catalog_dry_run=True))
    assert job.status == JobStatus.COMPLETED, job.error
    assert ImportRun.objects.get(job=job).dry_run is True
    assert Product.objects.count() == 0
    sent = WebhookDelivery.objects.get(webhook=webhook_receiver.webhook)
    assert json.loads(sent.request_body)["data"]["summary"]["dry_run"] is True
