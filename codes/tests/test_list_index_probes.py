"""rename-codes' checks give the same outcomes whether the list is joined to the codes by
index lookups (a list small beside the table) or by hashing the codes."""

import pytest

from codes.models import Code
from codes.services import code_lists
from core.models import JobStatus

from .factories import make_codes
from .helpers import result_rows, run, start

pytestmark = pytest.mark.django_db(transaction=True)

RENAME = "/api/automation/fienta/rename-codes"


@pytest.mark.parametrize("probe_ratio", [0, 10**9], ids=["hash", "index-probes"])
def test_outcomes_are_the_same_either_way(client_for, monkeypatch, probe_ratio):
    monkeypatch.setattr(code_lists, "PROBE_RATIO", probe_ratio)
    make_codes(3, prefix="A")  # A-0001 .. A-0003
    make_codes(1, prefix="MOB")  # MOB-0001: listed, renamed away
    make_codes(1, prefix="NEW")  # NEW-0001 .. : not listed, a conflict
    client = client_for("operator")
    body = {"codes": ["A-0001", "MOB-0001", "a-0001", "NOPE"], "rename_prefix": "MOB-"}
    body["rename_pad_length"] = 4

    job = run(start(client, RENAME, body)["job_id"])
    assert job.status == JobStatus.FAILED
    # Nothing is renamed when any row has a problem: the others say they were held back.
    assert [row["outcome"] for row in result_rows(client, job.pk)] == [
        "not_renamed",
        "not_renamed",
        "duplicate",
        "not_found",
    ]

    body = {"codes": ["A-0002", "A-0003"], "rename_prefix": "NEW-", "rename_pad_length": 4}
    job = run(start(client, RENAME, body)["job_id"])
    assert job.status == JobStatus.FAILED
    assert [row["outcome"] for row in result_rows(client, job.pk)] == ["conflict", "not_renamed"]

    body = {"codes": ["A-0001", "MOB-0001"], "rename_prefix": "MOB-", "rename_pad_length": 4}
    job = run(start(client, RENAME, body)["job_id"])
    assert job.status == JobStatus.COMPLETED, job.error
    assert Code.objects.get(code="MOB-0002").previous_code == "MOB-0001"
    assert Code.objects.get(code="MOB-0001").previous_code == "A-0001"
