"""create-codes' insert: the plain INSERT, its ON CONFLICT fallback, and the id order."""

import pytest

from codes.models import Code
from codes.services import bulk_create
from core.models import JobStatus

from .helpers import result_rows, run, start, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "/api/automation/fienta/create-codes"


def test_a_code_created_by_someone_else_after_the_check_is_reported_taken(
    client_for, data_dir, monkeypatch
):
    write_csv(data_dir / "codes.csv", [["code"], ["M-1"], ["M-2"], ["M-3"]])
    check_rows = bulk_create._check_rows

    def check_then_race(stage, batch_id, **kwargs):
        check_rows(stage, batch_id, **kwargs)
        Code.objects.create(code="m-2", code_type_id="discount")  # committed meanwhile

    monkeypatch.setattr(bulk_create, "_check_rows", check_then_race)
    client = client_for("operator")

    job = run(start(client, CREATE, {"csv_path": "codes.csv"})["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert [row["outcome"] for row in result_rows(client, job.pk)] == [
        "created",
        "taken",
        "created",
    ]
    assert job.result["counts"] == {"created": 2, "taken": 1}
    assert sorted(Code.objects.values_list("code", flat=True)) == ["M-1", "M-3", "m-2"]


def test_ids_follow_the_file_order(client_for, data_dir):
    names = [f"ORD-{n:04d}" for n in range(300)]
    write_csv(data_dir / "codes.csv", [["code"], *[[name] for name in reversed(names)]])
    client = client_for("operator")

    job = run(start(client, CREATE, {"csv_path": "codes.csv"})["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    by_id = list(Code.objects.order_by("id").values_list("code", flat=True))
    assert by_id == list(reversed(names))
    assert all(code.id.version == 7 for code in Code.objects.all())
