"""create-codes and Shopify: new codes added to an existing discount (discountRedeemCodeBulkAdd,
at most 250 a call, the asynchronous bulk creation polled until done), each code's Shopify
error mapped back onto its row. Against the local GraphQL fake (devtools/fakes/shopify.py).
"""

import pytest

from codes.models import Code, CodeBatch, CodeType
from codes.services import shopify
from core.models import JobStatus
from core.testing.helpers import make_job, register_kind
from devtools.fakes.shopify import FakeShopify

from .helpers import log_text, result_rows, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "/api/automation/fienta/create-codes"
TOKEN = "shpat_test_token"


@pytest.fixture
def shop(settings):
    with FakeShopify(TOKEN) as fake:
        settings.SHOPIFY_SHOP_DOMAIN = fake.domain
        settings.SHOPIFY_ACCESS_TOKEN = TOKEN
        settings.SHOPIFY_BULK_CODES_POLL_SECONDS = 0.01
        yield fake


def bulk_adds(shop) -> list[list[str]]:
    """The codes of each discountRedeemCodeBulkAdd call, in order."""
    return [creation["codes"] for creation in shop.bulk_creations.values()]


def test_new_codes_are_added_to_the_discount_250_a_call_and_polled_until_done(
    shop, client_for, data_dir
):
    discount = shop.add_discount("Spring")
    write_csv(data_dir / "codes.csv", [["code"], *[[f"S-{n:04d}"] for n in range(1, 601)]])
    client = client_for("operator")

    started = start(client, CREATE, {"csv_path": "codes.csv", "shopify_discount_id": discount})
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert [len(chunk) for chunk in bulk_adds(shop)] == [250, 250, 100]
    assert bulk_adds(shop)[0][0] == "S-0001" and bulk_adds(shop)[2][-1] == "S-0600"
    # Each creation was asked about until done (the fake answers done: false once).
    assert all(creation["polls"] == 2 for creation in shop.bulk_creations.values())
    assert len(shop.discount_codes(discount)) == 600
    assert all(r["token"] == TOKEN for r in shop.requests)
    summary = CodeBatch.objects.get(pk=started["batch_id"]).summary["shopify"]
    assert summary == {
        "status": "completed",
        "discount_id": discount,
        "calls": 3,
        "codes": 600,
        "imported": 600,
        "failed": 0,
    }
    rows = result_rows(client, job.pk)
    assert len(rows) == 600
    assert {(r["outcome"], r["shopify"]) for r in rows} == {("created", "added")}
    assert "Shopify: 600 codes sent, 600 added, 0 refused." in log_text(job)


def test_codes_shopify_refuses_are_reported_on_their_rows(shop, client_for, data_dir):
    discount = shop.add_discount("Spring")
    shop.add_shop_code("in-shop-1")  # another discount's code: TAKEN in the whole shop
    write_csv(
        data_dir / "codes.csv",
        [["code"], ["OK-1"], ["IN-SHOP-1"], ["OK-2"], ["ok-1"], ["EXISTS-1"]],
    )
    Code.objects.create(code="EXISTS-1", code_type=CodeType.objects.create(slug="discount"))
    client = client_for("operator")

    started = start(client, CREATE, {"csv_path": "codes.csv", "shopify_discount_id": discount})
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    rows = {r["code"]: r for r in result_rows(client, job.pk)}
    assert (rows["OK-1"]["outcome"], rows["OK-1"]["shopify"]) == ("created", "added")
    assert (rows["IN-SHOP-1"]["outcome"], rows["IN-SHOP-1"]["shopify"]) == ("created", "TAKEN")
    assert "unique" in rows["IN-SHOP-1"]["shopify_message"]
    # Rows the platform refused are not sent.
    assert (rows["ok-1"]["outcome"], rows["ok-1"]["shopify"]) == ("duplicate", "")
    assert (rows["EXISTS-1"]["outcome"], rows["EXISTS-1"]["shopify"]) == ("taken", "")
    assert bulk_adds(shop) == [["OK-1", "IN-SHOP-1", "OK-2"]]
    summary = CodeBatch.objects.get(pk=started["batch_id"]).summary["shopify"]
    assert (summary["imported"], summary["failed"]) == (2, 1)


@register_kind("tests.codes_shopify_add")
def _add_codes_job(ctx):
    results = []
    totals = shopify.add_codes(
        ctx,
        ctx.params["discount_id"],
        [tuple(row) for row in ctx.params["rows"]],
        on_results=results.extend,
    )
    return {"totals": totals, "results": results}


def test_each_shopify_error_is_mapped_back_onto_its_row(shop):
    discount = shop.add_discount()
    shop.add_shop_code("TAKEN-1")
    rows = [
        [1, "FINE-1"],
        [2, "taken-1"],
        [3, "Twice"],
        [4, "TWICE"],
        [5, "X" * 256],
        [6, " "],
        [7, "FINE-2"],
    ]
    job = make_job("tests.codes_shopify_add", params={"discount_id": discount, "rows": rows})

    job = run(job.pk)

    assert job.status == JobStatus.COMPLETED, job.error
    outcomes = {row: outcome for row, outcome, _ in job.result["results"]}
    assert outcomes == {
        1: "added",
        2: "TAKEN",
        3: "added",
        4: "DUPLICATE",
        5: "TOO_LONG",
        6: "BLANK",
        7: "added",
    }
    messages = {row: message for row, _, message in job.result["results"]}
    assert "too long" in messages[5] and "blank" in messages[6]
    assert job.result["totals"]["failed"] == 4


def test_the_types_discount_is_used_when_the_request_names_none(shop, client_for, data_dir):
    discount = shop.add_discount()
    CodeType.objects.create(slug="vip", shopify_discount_id=discount)
    write_csv(data_dir / "codes.csv", [["code", "type"], ["VIP-1", "vip"]])
    client = client_for("operator")

    job = run(start(client, CREATE, {"csv_path": "codes.csv", "code_type": "vip"})["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert shop.discount_codes(discount) == ["VIP-1"]


def test_a_dry_run_sends_nothing_to_shopify(shop, client_for, data_dir):
    discount = shop.add_discount()
    write_csv(data_dir / "codes.csv", [["code"], ["DRY-1"]])
    client = client_for("operator")

    started = start(
        client,
        CREATE,
        {"csv_path": "codes.csv", "shopify_discount_id": discount, "dry_run": True},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert shop.requests == []
    assert CodeBatch.objects.get(pk=started["batch_id"]).summary["shopify"]["status"] == "dry_run"


def test_without_a_store_the_codes_are_created_and_the_log_says_so(client_for, data_dir):
    write_csv(data_dir / "codes.csv", [["code"], ["NS-1"]])
    client = client_for("operator")

    started = start(
        client,
        CREATE,
        {"csv_path": "codes.csv", "shopify_discount_id": "gid://shopify/DiscountCodeNode/1"},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert Code.objects.filter(code="NS-1").exists()
    assert "Shopify: no store is configured" in log_text(job)
    shopify_summary = CodeBatch.objects.get(pk=started["batch_id"]).summary["shopify"]
    assert shopify_summary["status"] == "not_configured"


def test_an_unknown_discount_fails_the_job_with_shopifys_message(shop, client_for, data_dir):
    write_csv(data_dir / "codes.csv", [["code"], ["UD-1"]])
    client = client_for("operator")

    job = run(
        start(
            client,
            CREATE,
            {"csv_path": "codes.csv", "shopify_discount_id": "gid://shopify/DiscountCodeNode/9"},
        )["job_id"]
    )

    assert job.status == JobStatus.FAILED
    assert "Shopify refused the codes: INVALID: Discount does not exist." in job.error
    assert Code.objects.filter(code="UD-1").exists()  # the platform's codes stand


def test_a_refused_token_fails_the_job_clearly(shop, settings, client_for, data_dir):
    settings.SHOPIFY_ACCESS_TOKEN = "wrong-token"
    discount = shop.add_discount()
    write_csv(data_dir / "codes.csv", [["code"], ["WT-1"]])
    client = client_for("operator")

    job = run(
        start(client, CREATE, {"csv_path": "codes.csv", "shopify_discount_id": discount})["job_id"]
    )

    assert job.status == JobStatus.FAILED
    error = client.get(f"/api/batch-jobs/{job.pk}").json()["data"]["error_message"]
    assert "Shopify refused the access token (HTTP 401)" in error
    assert "wrong-token" not in job.error and "wrong-token" not in log_text(job)


def test_a_bulk_creation_never_done_fails_after_the_timeout(shop, settings, client_for, data_dir):
    shop.polls_before_done = 10**6
    settings.SHOPIFY_BULK_CODES_TIMEOUT_SECONDS = 0.3
    discount = shop.add_discount()
    write_csv(data_dir / "codes.csv", [["code"], ["SLOW-1"]])
    client = client_for("operator")

    job = run(
        start(client, CREATE, {"csv_path": "codes.csv", "shopify_discount_id": discount})["job_id"]
    )

    assert job.status == JobStatus.FAILED
    assert "was not done after 0.3 s" in job.error
