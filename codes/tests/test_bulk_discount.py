"""update-discount: a new percent for listed codes or a filter, dry runs, per-row results."""

from decimal import Decimal

import pytest

from codes.models import Code, CodeBatch
from core.models import JobStatus

from .factories import make_codes
from .helpers import log_text, result_rows, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

UPDATE = "/api/automation/fienta/update-discount"


def percents() -> dict[str, Decimal | None]:
    return dict(Code.objects.values_list("code", "discount_percent"))


def test_listed_codes_get_the_new_percent_with_an_outcome_per_row(client_for, data_dir):
    make_codes(2, prefix="A", discount_percent=Decimal("10"))
    make_codes(1, prefix="B", discount_percent=Decimal("15"))
    make_codes(1, prefix="C", discount_amount=Decimal("5"))
    make_codes(1, prefix="KEEP", discount_percent=Decimal("10"))
    write_csv(
        data_dir / "data" / "codes.csv",
        [["code"], ["A-0001"], ["a-0002"], ["B-0001"], ["C-0001"], ["NOPE"], ["A-0001"]],
    )
    client = client_for("operator")

    started = start(
        client,
        UPDATE,
        {"csv_path": "data/codes.csv", "update_discount_percent": 15, "dry_run": False},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert started["job_type"] == "fienta.update_discount"
    assert percents() == {
        "A-0001": Decimal("15.00"),
        "A-0002": Decimal("15.00"),
        "B-0001": Decimal("15.00"),
        "C-0001": Decimal("15.00"),
        "KEEP-0001": Decimal("10.00"),
    }
    assert Code.objects.get(code="C-0001").discount_amount is None  # a percent replaces it
    assert Code.objects.get(code="A-0001").updated_by == client.user
    rows = result_rows(client, job.pk)
    assert [(r["code"], r["old_percent"], r["old_amount"], r["outcome"]) for r in rows] == [
        ("A-0001", "10.00", "", "updated"),
        ("a-0002", "10.00", "", "updated"),
        ("B-0001", "15.00", "", "unchanged"),
        ("C-0001", "", "5.00", "updated"),
        ("NOPE", "", "", "not_found"),
        ("A-0001", "", "", "duplicate"),
    ]
    batch = CodeBatch.objects.get(pk=started["batch_id"])
    assert batch.counts == {"updated": 3, "unchanged": 1, "not_found": 1, "duplicate": 1}
    assert batch.summary["discount_percent"] == "15.00" and batch.summary["updated"] == 3
    assert "3 codes now have a 15.00% discount" in log_text(job)
    assert "only the platform's codes changed" in log_text(job)


def test_a_filter_selects_the_codes_like_the_list_does(client_for):
    make_codes(2, prefix="SP", campaign="spring", discount_percent=Decimal("5"))
    make_codes(1, prefix="SU", campaign="summer", discount_percent=Decimal("5"))
    make_codes(1, prefix="AC", code_type="access", campaign="spring")
    client = client_for("operator")

    started = start(
        client,
        UPDATE,
        {"filter": {"code_type": "discount", "campaign": "spring"}, "discount_percent": "20.5"},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert percents() == {
        "SP-0001": Decimal("20.50"),
        "SP-0002": Decimal("20.50"),
        "SU-0001": Decimal("5.00"),
        "AC-0001": None,
    }
    assert CodeBatch.objects.get(pk=started["batch_id"]).source.startswith("filter ")
    assert [r["outcome"] for r in result_rows(client, job.pk)] == ["updated", "updated"]


def test_a_filter_may_list_several_statuses(client_for):
    make_codes(3, prefix="ST")
    Code.objects.filter(code="ST-0002").update(status="used")
    Code.objects.filter(code="ST-0003").update(status="revoked")
    client = client_for("operator")

    job = run(
        start(
            client,
            UPDATE,
            {"filter": {"status": ["available", "used"]}, "discount_percent": 30},
        )["job_id"]
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert percents() == {
        "ST-0001": Decimal("30.00"),
        "ST-0002": Decimal("30.00"),
        "ST-0003": None,
    }


def test_a_dry_run_reports_and_changes_nothing(client_for):
    make_codes(2, prefix="D", discount_percent=Decimal("10"))
    client = client_for("operator")

    started = start(
        client,
        UPDATE,
        {"codes": ["D-0001", "D-0002"], "update_discount_percent": 50, "dry_run": True},
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert set(percents().values()) == {Decimal("10.00")}
    assert [r["outcome"] for r in result_rows(client, job.pk)] == ["would_update"] * 2
    assert CodeBatch.objects.get(pk=started["batch_id"]).applied_at is None


def test_running_the_update_again_converges(client_for):
    make_codes(2, prefix="R", discount_percent=Decimal("10"))
    client = client_for("operator")
    started = start(client, UPDATE, {"codes": ["R-0001", "R-0002"], "discount_percent": 12})
    run(started["job_id"])

    retry = client.post(f"/api/jobs/{started['job_id']}/retry")
    assert retry.status_code == 201, retry.content
    again = run(retry.json()["id"])

    assert again.status == JobStatus.COMPLETED, again.error
    assert [r["outcome"] for r in result_rows(client, again.pk)] == ["unchanged", "unchanged"]
    assert set(percents().values()) == {Decimal("12.00")}


@pytest.mark.parametrize(
    "body",
    [
        {"codes": ["A"], "update_discount_percent": 101},
        {"codes": ["A"], "update_discount_percent": -1},
        {"codes": ["A"], "update_discount_percent": "ten"},
        {"codes": ["A"], "update_discount_percent": "10.555"},
        {"codes": ["A"], "update_discount_percent": "NaN"},
        {"codes": ["A"], "update_discount_percent": None},
        {"codes": ["A"]},
        {"codes": ["A"], "update_discount_percent": 10, "discount_percent": 10},
        {"update_discount_percent": 10},
        {"codes": ["A"], "filter": {"campaign": "x"}, "discount_percent": 10},
        {"filter": {}, "discount_percent": 10},
        {"filter": {"status": "lost"}, "discount_percent": 10},
        {"filter": {"colour": "red"}, "discount_percent": 10},
        {"filter": "campaign=x", "discount_percent": 10},
        {"filter": {"prefix": {"a": 1}}, "discount_percent": 10},
        {"codes": [], "discount_percent": 10},
        {"csv_path": "../outside.csv", "discount_percent": 10},
    ],
)
def test_bad_update_requests_are_a_400_and_start_nothing(client_for, body):
    make_codes(1, prefix="A")
    response = client_for("operator").post(UPDATE, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]
    assert not CodeBatch.objects.exists()


def test_viewers_cannot_update_discounts(client_for):
    response = client_for("viewer").post(
        UPDATE, {"codes": ["A"], "discount_percent": 10}, format="json"
    )
    assert response.status_code == 403
