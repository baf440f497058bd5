"""shopify_upload against a local server implementing the GraphQL calls and their throttle."""

import csv
import json

import pytest

from core.models import JobStatus
from devtools.fakes.shopify import FakeShopify
from scripts_runner.services.runs import InvalidScriptParameters, create_script_job

from .helpers import log_lines, run_script

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKEN = "shpat_test_0123456789abcdef"


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("SCRIPT_CREDENTIAL_SHOPIFY_TOKEN", TOKEN)


def write_products(path, count, *, start=1):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "name", "description", "price", "category", "tags"])
        for n in range(start, start + count):
            writer.writerow(
                [f"SKU-{n}", f"Product {n}", f"<p>Item {n}</p>", f"{n}.5", "Toys", "new|sale"]
            )


def upload(domain, **extra):
    return {"input_file": "products.csv", "shop_domain": domain, **extra}


def read_report(job):
    with open(job.result["summary"]["report_file"], newline="") as handle:
        return list(csv.DictReader(handle))


def test_creates_new_products_and_updates_existing_ones_by_sku(data_dir, token):
    write_products(data_dir / "products.csv", 12)
    (data_dir / "meta.json").write_text(
        json.dumps(
            {
                "products": [
                    {
                        "sku": "sku-3",
                        "metafields": [
                            {
                                "namespace": "specs",
                                "key": "color",
                                "type": "single_line_text_field",
                                "value": "red",
                            }
                        ],
                    },
                ]
            }
        )
    )
    with FakeShopify(TOKEN) as shop:
        existing = shop.add_product("SKU-2", "Old title")
        job = run_script(
            "shopify_upload",
            upload(shop.domain, metafields_file="meta.json", batch_size=5, status="ACTIVE"),
        )
        assert job.status == JobStatus.COMPLETED, job.error
        assert len(shop.products) == 12
        updated = shop.products[existing]
        assert updated["title"] == "Product 2"
        assert updated["variants"][0]["sku"] == "SKU-2"
        assert updated["variants"][0]["price"] == "2.50"
        assert shop.by_sku("SKU-3")["metafields"][0]["value"] == "red"
        assert shop.by_sku("SKU-12")["status"] == "ACTIVE"
        assert shop.by_sku("SKU-12")["productType"] == "Toys"
        assert all(r["token"] == TOKEN for r in shop.requests)
        assert len(shop.requests) == 6  # 3 batches: one lookup and one mutation each
    summary = job.result["summary"]
    assert summary["created"] == 11 and summary["updated"] == 1 and summary["failed"] == 0
    report = read_report(job)
    assert [r["action"] for r in report].count("updated") == 1
    assert report[1] == {"sku": "SKU-2", "action": "updated", "product_id": existing, "errors": ""}
    assert not any(TOKEN in line for line in log_lines(job))


def test_paces_itself_by_the_cost_throttle_instead_of_being_refused(data_dir, token):
    write_products(data_dir / "products.csv", 30)
    # A tiny bucket: a 5-product mutation (50 points) needs most of it; 100 points/s back.
    with FakeShopify(TOKEN, maximum=60, restore_rate=100) as shop:
        job = run_script("shopify_upload", upload(shop.domain, batch_size=5))
        assert job.status == JobStatus.COMPLETED, job.error
        assert len(shop.products) == 30
        assert shop.throttled == 0
    summary = job.result["summary"]
    assert summary["throttled"] == 0
    assert summary["waited_seconds"] > 0.5  # it waited for points instead
    assert any("points available" in line for line in log_lines(job))


def test_retries_throttled_429_and_5xx_answers(data_dir, token):
    write_products(data_dir / "products.csv", 4)
    with FakeShopify(TOKEN, maximum=1000, restore_rate=1000) as shop:
        shop.fail_next(429, Retry_After="0.2")
        shop.fail_next(502)
        shop.fail_next(503)
        shop.fail_next("THROTTLED")
        job = run_script("shopify_upload", upload(shop.domain, batch_size=4, max_retries=3))
        assert job.status == JobStatus.COMPLETED, job.error
        assert len(shop.products) == 4
        statuses = [r["status"] for r in shop.requests]
    assert statuses[:4] == [429, 502, 503, "THROTTLED"]
    summary = job.result["summary"]
    assert summary["retries"] == 3 and summary["throttled"] == 1
    lines = log_lines(job)
    assert any("HTTP 429 Too Many Requests; retry 1/3" in line for line in lines)
    assert any("THROTTLED by Shopify" in line for line in lines)


def test_gives_up_after_max_retries_of_server_errors(data_dir, token):
    write_products(data_dir / "products.csv", 2)
    with FakeShopify(TOKEN) as shop:
        for _ in range(5):
            shop.fail_next(500)
        job = run_script("shopify_upload", upload(shop.domain, max_retries=2))
        assert len(shop.requests) == 3
    assert job.status == JobStatus.FAILED
    assert "failed after 3 attempts: HTTP 500" in job.error


def test_a_wrong_token_fails_the_run(data_dir, monkeypatch):
    monkeypatch.setenv("SCRIPT_CREDENTIAL_SHOPIFY_TOKEN", "shpat_wrong")
    write_products(data_dir / "products.csv", 2)
    with FakeShopify(TOKEN) as shop:
        job = run_script("shopify_upload", upload(shop.domain))
    assert job.status == JobStatus.FAILED
    assert "refused the access token (HTTP 401)" in job.error


def test_product_level_errors_are_reported_and_fail_the_run(data_dir, token):
    path = data_dir / "products.csv"
    path.write_text("sku,name,price\nOK-1,Fine,1\nBAD-1,,2\nBAD-2,Bad price,abc\n,No sku,3\n")
    with FakeShopify(TOKEN) as shop:
        job = run_script("shopify_upload", upload(shop.domain, report_file="report.csv"))
        assert [p["title"] for p in shop.products.values()] == ["Fine"]
    assert job.status == JobStatus.FAILED
    assert "3 product(s) failed" in job.error
    with (data_dir / "report.csv").open(newline="") as handle:
        report = {row["sku"]: row for row in csv.DictReader(handle)}
    assert report["OK-1"]["action"] == "created"
    assert report["BAD-1"]["errors"] == "no title/name"
    assert "not a number" in report["BAD-2"]["errors"]


def test_dry_run_looks_up_but_changes_nothing(data_dir, token):
    write_products(data_dir / "products.csv", 3)
    with FakeShopify(TOKEN) as shop:
        shop.add_product("SKU-1", "Existing")
        job = run_script("shopify_upload", upload(shop.domain, dry_run=True))
        assert len(shop.products) == 1
    assert job.status == JobStatus.COMPLETED, job.error
    summary = job.result["summary"]
    assert summary["would_update"] == 1 and summary["would_create"] == 2


def test_the_token_only_goes_to_a_shopify_shop(data_dir, token):
    write_products(data_dir / "products.csv", 1)
    with pytest.raises(InvalidScriptParameters) as caught:
        create_script_job("shopify_upload", upload("attacker.example.com"))
    assert caught.value.fields == {"shop_domain": ["Must be a *.myshopify.com shop domain."]}
