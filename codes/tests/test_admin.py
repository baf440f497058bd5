"""Codes in the operator console: per-type counts, search, filters, revoke, CSV export."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from codes.models import Code, CodeStatus

from .factories import make_codes

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/codes/code/"


@pytest.fixture
def console(make_user):
    client = Client()
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def codes():
    make_codes(3, prefix="DISC", campaign="spring", discount_percent=Decimal("10"))
    make_codes(2, prefix="ACC", code_type="access")
    Code.objects.filter(code="DISC-0001").update(
        status=CodeStatus.USED, used_at=timezone.now(), reference="order-77"
    )
    Code.objects.filter(code="DISC-0002").update(status=CodeStatus.REVOKED)


def listed(response) -> list[str]:
    assert response.status_code == 200
    return sorted(
        re.findall(r'<th class="field-code"><a href="[^"]+">([^<]+)</a>', response.content.decode())
    )


def counts_row(html: str, code_type: str) -> dict[str, str]:
    row = re.search(rf'<tr data-code-type="{code_type}">(.*?)</tr>', html, re.S)
    assert row, f"no counts row for {code_type}"
    cells = dict(re.findall(r'<td class="(\w+)">(?:<a [^>]+>)?(\d+)', row[1]))
    return cells


def test_the_changelist_shows_available_used_and_revoked_counts_per_type(console, codes):
    html = console.get(CHANGELIST).content.decode()

    assert 'id="code-type-counts"' in html
    assert counts_row(html, "discount") == {
        "available": "1",
        "used": "1",
        "revoked": "1",
        "total": "3",
    }
    assert counts_row(html, "access") == {
        "available": "2",
        "used": "0",
        "revoked": "0",
        "total": "2",
    }
    assert "?code_type__slug__exact=access&amp;status__exact=available" in html


def test_search_finds_codes_by_prefix_in_any_case_reference_or_campaign(console, codes):
    assert listed(console.get(CHANGELIST, {"q": "acc-"})) == ["ACC-0001", "ACC-0002"]
    assert listed(console.get(CHANGELIST, {"q": "order-77"})) == ["DISC-0001"]
    assert listed(console.get(CHANGELIST, {"q": "spring"})) == [
        "DISC-0001",
        "DISC-0002",
        "DISC-0003",
    ]
    assert listed(console.get(CHANGELIST, {"q": "nothing"})) == []


def test_filters_narrow_the_list_by_status_type_expiry_and_batch(console, codes):
    Code.objects.filter(code="ACC-0002").update(expires_at=timezone.now())

    assert listed(console.get(CHANGELIST, {"status__exact": "revoked"})) == ["DISC-0002"]
    assert listed(
        console.get(CHANGELIST, {"code_type__slug__exact": "access", "status__exact": "available"})
    ) == ["ACC-0001", "ACC-0002"]
    assert listed(console.get(CHANGELIST, {"expired": "yes"})) == ["ACC-0002"]
    assert len(listed(console.get(CHANGELIST, {"expired": "no"}))) == 4
    assert console.get(CHANGELIST, {"batch": "999"}).status_code == 200


def test_revoke_selected_revokes_with_the_reason(console, codes):
    selected = Code.objects.filter(code__in=["ACC-0001", "DISC-0003", "DISC-0002"])

    response = console.post(
        CHANGELIST,
        {
            "action": "revoke_selected",
            "_selected_action": [str(pk) for pk in selected.values_list("pk", flat=True)],
            "reason": "leaked on a forum",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "2 codes revoked (leaked on a forum)." in response.content.decode()
    revoked = Code.objects.get(code="ACC-0001")
    assert revoked.status == CodeStatus.REVOKED
    assert revoked.revoked_reason == "leaked on a forum" and revoked.revoked_at is not None
    assert Code.objects.get(code="DISC-0002").revoked_reason == ""  # revoked before: untouched
    assert Code.objects.get(code="ACC-0002").status == CodeStatus.AVAILABLE


def test_export_streams_the_selected_codes_as_csv(console, codes):
    selected = Code.objects.filter(code__in=["DISC-0001", "ACC-0001"])

    response = console.post(
        CHANGELIST,
        {
            "action": "export_csv",
            "_selected_action": [str(pk) for pk in selected.values_list("pk", flat=True)],
        },
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="codes-')
    text = b"".join(response.streaming_content).decode()
    rows = {row["code"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {"DISC-0001", "ACC-0001"}
    used = rows["DISC-0001"]
    assert (used["code_type"], used["status"], used["reference"]) == (
        "discount",
        "used",
        "order-77",
    )
    assert used["discount_percent"] == "10.00" and used["campaign"] == "spring"
    assert used["used_at"].startswith(str(timezone.now().year))
    assert rows["ACC-0001"]["expires_at"] == ""


def test_export_of_everything_the_filters_match(console, codes):
    response = console.post(
        f"{CHANGELIST}?code_type__slug__exact=discount",
        {"action": "export_csv", "select_across": "1", "_selected_action": ["x"], "index": "0"},
    )

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert sorted(row["code"] for row in csv.DictReader(io.StringIO(text))) == [
        "DISC-0001",
        "DISC-0002",
        "DISC-0003",
    ]


def test_the_change_form_edits_the_discount_through_the_service(console, codes):
    code = Code.objects.get(code="DISC-0003")
    url = f"/admin/codes/code/{code.pk}/change/"
    assert console.get(url).status_code == 200

    both = console.post(url, {"discount_percent": "5", "discount_amount": "5", "campaign": "x"})
    saved = console.post(
        url, {"discount_percent": "", "discount_amount": "7.50", "campaign": "fall"}
    )

    assert both.status_code == 200 and "not both" in both.content.decode()
    assert saved.status_code == 302
    code.refresh_from_db()
    assert (code.discount_percent, code.discount_amount, code.campaign) == (
        None,
        Decimal("7.50"),
        "fall",
    )


def test_staff_who_may_only_view_codes_can_export_but_not_revoke(make_user, codes):
    user = make_user("viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_code"))
    client = Client()
    client.force_login(user)

    page = client.get(CHANGELIST).content.decode()
    refused = client.post(
        CHANGELIST,
        {
            "action": "revoke_selected",
            "_selected_action": [str(Code.objects.get(code="ACC-0001").pk)],
        },
    )

    assert 'value="export_csv"' in page and 'value="revoke_selected"' not in page
    assert refused.status_code in (200, 302)
    assert Code.objects.get(code="ACC-0001").status == CodeStatus.AVAILABLE


def test_code_types_and_batches_have_their_pages(console, codes):
    assert console.get("/admin/codes/codetype/").status_code == 200
    assert console.get("/admin/codes/codebatch/").status_code == 200
    assert "access" in console.get("/admin/codes/codetype/").content.decode()
