"""rename-codes when new names are old names of the list (through temporary names)."""

import pytest

from codes.models import Code
from core.models import JobStatus

from .factories import make_codes
from .helpers import run, start

pytestmark = pytest.mark.django_db(transaction=True)

RENAME = "/api/automation/fienta/rename-codes"


def test_names_may_move_inside_the_list_and_a_plain_rename_needs_no_detour(client_for):
    make_codes(1, prefix="A")  # A-0001
    make_codes(2, prefix="MOB", campaign="x")  # MOB-0001, MOB-0002
    client = client_for("operator")
    body = {"codes": ["A-0001", "MOB-0001", "MOB-0002"], "rename_prefix": "MOB-"}
    body["rename_pad_length"] = 4

    job = run(start(client, RENAME, body)["job_id"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert Code.objects.get(code="MOB-0001").previous_code == "A-0001"
    assert Code.objects.get(code="MOB-0002").previous_code == "MOB-0001"
    assert Code.objects.get(code="MOB-0003").previous_code == "MOB-0002"

    make_codes(2, prefix="B")
    job = run(
        start(client, RENAME, {"codes": ["B-0001", "B-0002"], "rename_prefix": "NEW-"})["job_id"]
    )
    assert job.status == JobStatus.COMPLETED, job.error
    assert Code.objects.get(code="NEW-002").previous_code == "B-0002"
