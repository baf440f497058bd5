"""rename-codes: prefix + zero-padded number, all or nothing, dry runs, per-row results."""

import pytest
from django.utils import timezone

from codes.models import Code, CodeBatch, CodeStatus, CodeType
from core.models import JobStatus

from .factories import make_codes
from .helpers import log_text, result_rows, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

RENAME = "/api/automation/fienta/rename-codes"


def codes_now() -> set[str]:
    return set(Code.objects.values_list("code", flat=True))


def test_the_documents_example_renames_the_listed_codes_to_prefix_and_padded_number(
    client_for, data_dir
):
    make_codes(3, prefix="OLD")
    write_csv(
        data_dir / "data" / "existing_codes.csv",
        [["code"], ["OLD-0002"], ["old-0001"], ["OLD-0003"]],
    )
    client = client_for("operator")

    started = start(
        client,
        RENAME,
        {
            "csv_path": "data/existing_codes.csv",
            "rename_prefix": "MOB-",
            "rename_pad_length": 3,
            "rename_start": 1,
            "dry_run": False,
        },
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert started["job_type"] == "fienta.rename_codes"
    assert started["status_url"] == f"/api/batch-jobs/{started['job_id']}"
    # Numbered in list order, not in the codes' own order.
    assert Code.objects.get(code="MOB-001").previous_code == "OLD-0002"
    assert Code.objects.get(code="MOB-002").previous_code == "OLD-0001"
    assert Code.objects.get(code="MOB-003").previous_code == "OLD-0003"
    assert codes_now() == {"MOB-001", "MOB-002", "MOB-003"}
    assert Code.objects.get(code="MOB-001").updated_by == client.user
    rows = result_rows(client, job.pk)
    assert [(r["row"], r["code"], r["new_code"], r["outcome"]) for r in rows] == [
        ("1", "OLD-0002", "MOB-001", "renamed"),
        ("2", "old-0001", "MOB-002", "renamed"),
        ("3", "OLD-0003", "MOB-003", "renamed"),
    ]
    batch = CodeBatch.objects.get(pk=started["batch_id"])
    assert batch.counts == {"renamed": 3} and batch.total_rows == 3
    assert batch.applied_at is not None
    assert "only the platform's codes changed" in log_text(job)
    detail = client.get(f"/api/batch-jobs/{job.pk}").json()
    assert detail["batch"]["result_file"] == f"/api/batch-jobs/{job.pk}/results"
    assert detail["data"]["results"]["counts"] == {"renamed": 3}


def test_codes_can_be_listed_in_the_body_and_numbers_start_where_asked(client_for):
    make_codes(2, prefix="A")
    client = client_for("operator")

    job = run(
        start(
            client,
            RENAME,
            {"codes": ["A-0001", "A-0002"], "rename_prefix": "VIP", "rename_start": 41},
        )["job_id"]
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert codes_now() == {"VIP041", "VIP042"}  # pad length 3 by default


def test_a_dry_run_reports_the_new_names_and_renames_nothing(client_for, data_dir):
    make_codes(2, prefix="D")
    write_csv(data_dir / "list.csv", [["code"], ["D-0001"], ["D-0002"]])
    client = client_for("operator")

    started = start(
        client, RENAME, {"csv_path": "list.csv", "rename_prefix": "NEW-", "dry_run": True}
    )
    job = run(started["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert codes_now() == {"D-0001", "D-0002"}
    rows = result_rows(client, job.pk)
    assert [(r["new_code"], r["outcome"]) for r in rows] == [
        ("NEW-001", "would_rename"),
        ("NEW-002", "would_rename"),
    ]
    batch = CodeBatch.objects.get(pk=started["batch_id"])
    assert batch.dry_run is True and batch.applied_at is None


def test_a_new_name_another_code_has_is_reported_and_nothing_is_renamed(client_for, data_dir):
    make_codes(3, prefix="C")
    Code.objects.create(code="mob-002", code_type_id="discount")  # the 2nd new name, other case
    write_csv(data_dir / "list.csv", [["code"], ["C-0001"], ["C-0002"], ["C-0003"]])
    client = client_for("operator")

    started = start(client, RENAME, {"csv_path": "list.csv", "rename_prefix": "MOB-"})
    job = run(started["job_id"])

    assert job.status == JobStatus.FAILED
    assert "nothing was renamed" in job.error
    assert codes_now() == {"C-0001", "C-0002", "C-0003", "mob-002"}
    assert not Code.objects.exclude(previous_code="").exists()
    rows = {r["code"]: r for r in result_rows(client, job.pk)}
    assert rows["C-0002"]["outcome"] == "conflict"
    assert "mob-002" in rows["C-0002"]["message"]
    assert rows["C-0001"]["outcome"] == rows["C-0003"]["outcome"] == "not_renamed"
    batch = CodeBatch.objects.get(pk=started["batch_id"])
    assert batch.counts["conflict"] == 1 and batch.applied_at is None


def test_used_revoked_unknown_and_repeated_codes_block_the_whole_rename(client_for):
    make_codes(4, prefix="S")
    Code.objects.filter(code="S-0002").update(status=CodeStatus.USED, used_at=timezone.now())
    Code.objects.filter(code="S-0003").update(status=CodeStatus.REVOKED)
    client = client_for("operator")

    job = run(
        start(
            client,
            RENAME,
            {
                "codes": ["S-0001", "S-0002", "S-0003", "NOPE", "s-0001", "", "S-0004"],
                "rename_prefix": "R-",
            },
        )["job_id"]
    )

    assert job.status == JobStatus.FAILED
    outcomes = [r["outcome"] for r in result_rows(client, job.pk)]
    assert outcomes == [
        "not_renamed",
        "in_use",
        "revoked",
        "not_found",
        "duplicate",
        "blank",
        "not_renamed",
    ]
    assert not Code.objects.filter(code__startswith="R-").exists()


def test_names_may_move_inside_the_list(client_for):
    discount = CodeType.objects.create(slug="discount")
    Code.objects.create(code="X", code_type=discount)
    Code.objects.create(code="M-2", code_type=discount)
    client = client_for("operator")

    # X becomes M-2 while M-2 becomes M-3: no conflict, M-2 is renamed away.
    job = run(
        start(
            client,
            RENAME,
            {
                "codes": ["X", "M-2"],
                "rename_prefix": "M-",
                "rename_pad_length": 1,
                "rename_start": 2,
            },
        )["job_id"]
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert Code.objects.get(code="M-2").previous_code == "X"
    assert Code.objects.get(code="M-3").previous_code == "M-2"


def test_a_number_longer_than_the_pad_length_is_never_cut(client_for):
    make_codes(3, prefix="P")
    client = client_for("operator")

    job = run(
        start(
            client,
            RENAME,
            {
                "codes": ["P-0001", "P-0002", "P-0003"],
                "rename_prefix": "MOB-",
                "rename_pad_length": 2,
                "rename_start": 99,
            },
        )["job_id"]
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert codes_now() == {"MOB-99", "MOB-100", "MOB-101"}


def test_running_the_rename_again_after_it_applied_converges(client_for):
    make_codes(2, prefix="Q")
    client = client_for("operator")
    started = start(client, RENAME, {"codes": ["Q-0001", "Q-0002"], "rename_prefix": "Z-"})
    run(started["job_id"])

    retry = client.post(f"/api/jobs/{started['job_id']}/retry")
    assert retry.status_code == 201, retry.content
    again = run(retry.json()["id"])

    assert again.status == JobStatus.COMPLETED, again.error
    assert [r["outcome"] for r in result_rows(client, again.pk)] == ["renamed", "renamed"]
    assert codes_now() == {"Z-001", "Z-002"}


@pytest.mark.parametrize(
    "body",
    [
        {"codes": ["A"]},  # no prefix
        {"codes": ["A"], "rename_prefix": "has space"},
        {"codes": ["A"], "rename_prefix": "M-", "rename_pad_length": 31},
        {"codes": ["A"], "rename_prefix": "M-", "rename_pad_length": -1},
        {"codes": ["A"], "rename_prefix": "M-", "rename_start": -1},
        {"codes": ["A"], "rename_prefix": "M-", "rename_start": "one"},
        {"rename_prefix": "M-"},  # no list
        {"codes": ["A"], "csv_path": "a.csv", "rename_prefix": "M-"},
        {"codes": ["A"], "rename_prefix": "M-", "colour": "red"},
        {"codes": "A", "rename_prefix": "M-"},
        {"codes": [], "rename_prefix": "M-"},
    ],
)
def test_bad_rename_requests_are_a_400_and_start_nothing(client_for, body):
    response = client_for("operator").post(RENAME, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]
    assert not CodeBatch.objects.exists()


def test_an_uploaded_list_is_renamed_like_a_path(client_for, tmp_path):
    make_codes(2, prefix="U")
    path = write_csv(tmp_path / "list.csv", [["code"], ["U-0002"], ["U-0001"]])
    client = client_for("operator")

    with path.open("rb") as handle:
        response = client.post(
            RENAME,
            {"file": handle, "rename_prefix": "UP-", "rename_pad_length": "2"},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = run(response.json()["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert Code.objects.get(code="UP-01").previous_code == "U-0002"


def test_viewers_cannot_start_a_rename(client_for):
    response = client_for("viewer").post(
        RENAME, {"codes": ["A"], "rename_prefix": "M-"}, format="json"
    )
    assert response.status_code == 403
