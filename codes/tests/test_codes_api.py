"""The code endpoints of seed 003, under /api/ and /api/v1/."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from codes.models import Code, CodeAllocation, CodeStatus, CodeType
from core.testing.role_matrix import (
    CREATE,
    LIST,
    PARTIAL_UPDATE,
    RETRIEVE,
    UPDATE,
    RoleMatrix,
    action,
)

from .factories import make_codes

pytestmark = pytest.mark.django_db


def test_the_documents_allocate_example_answers_code_id_and_allocated_at(client_for):
    Code.objects.create(code="ALLOCATED-123", code_type=CodeType.objects.create(slug="discount"))
    client = client_for("operator")

    response = client.post("/api/codes/allocate?code_type=discount")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["code"] == "ALLOCATED-123"
    assert uuid.UUID(body["id"])
    assert parse_datetime(body["allocated_at"]) is not None
    assert body["created"] is True
    assert Code.objects.get(code="ALLOCATED-123").status == CodeStatus.USED


def test_allocate_with_the_same_idempotency_key_replays_the_same_code(client_for):
    make_codes(3)
    client = client_for("operator")

    first = client.post("/api/v1/codes/allocate?code_type=discount", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post("/api/v1/codes/allocate?code_type=discount", HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == again.status_code == 200
    assert again.json()["code"] == first.json()["code"]
    assert again.json()["created"] is False
    assert again["Idempotent-Replayed"] == "true"
    assert Code.objects.filter(status=CodeStatus.USED).count() == 1


def test_allocate_takes_the_reference_from_the_body_or_the_query(client_for):
    make_codes(3)
    client = client_for("operator")

    by_body = client.post(
        "/api/codes/allocate", {"code_type": "discount", "reference": "order-1"}, format="json"
    )
    by_query = client.post("/api/codes/allocate?code_type=discount&reference=order-1")

    assert by_body.json()["reference"] == "order-1"
    assert by_query.json()["code"] == by_body.json()["code"]


def test_an_empty_pool_is_a_409_pool_empty(client_for):
    CodeType.objects.create(slug="discount")
    response = client_for("operator").post("/api/codes/allocate?code_type=discount")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "pool_empty"


def test_allocate_needs_a_type_and_an_operator(client_for):
    make_codes(1)
    assert client_for("operator").post("/api/codes/allocate").status_code == 400
    assert client_for("viewer").post("/api/codes/allocate?code_type=discount").status_code == 403
    unknown = client_for("operator").post("/api/codes/allocate?code_type=nope")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_code_type"


def test_create_one_code_then_get_it_in_any_case(client_for):
    client = client_for("operator")

    created = client.post(
        "/api/codes",
        {"code": "Summer-10", "code_type": "discount", "discount_percent": "10", "campaign": "s25"},
        format="json",
    )

    assert created.status_code == 201, created.content
    assert created.json()["code"] == "Summer-10"
    assert created.json()["discount_percent"] == "10.00"
    assert created.json()["created_by"] == client.user.email
    fetched = client.get("/api/codes/SUMMER-10")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == created.json()["id"]
    assert client.get("/api/codes/summer-10/").json()["code"] == "Summer-10"
    assert client.get("/api/codes/nope").status_code == 404


def test_create_many_is_all_or_nothing_and_keeps_the_request_shape(client_for):
    client = client_for("operator")
    make_codes(1, prefix="TAKEN")

    listed = client.post("/api/codes", [{"code": "A-1"}, {"code": "A-2"}], format="json")
    wrapped = client.post("/api/codes", {"codes": [{"code": "B-1"}]}, format="json")
    clash = client.post("/api/codes", [{"code": "C-1"}, {"code": "taken-0001"}], format="json")
    twice = client.post("/api/codes", [{"code": "D-1"}, {"code": "d-1"}], format="json")
    bad = client.post("/api/codes", [{"code": "E 1"}, {"code": ""}], format="json")

    assert listed.status_code == 201 and [c["code"] for c in listed.json()] == ["A-1", "A-2"]
    assert wrapped.status_code == 201 and wrapped.json()["codes"][0]["code"] == "B-1"
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "code_taken"
    assert "TAKEN-0001" in clash.json()["error"]["message"]
    assert twice.status_code == 409
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"0", "1"}
    assert not Code.objects.filter(code__in=["C-1", "D-1"]).exists()


def test_a_code_of_a_new_type_creates_the_type_and_takes_its_default_discount(client_for):
    CodeType.objects.create(slug="vip", default_discount_percent=25)
    client = client_for("operator")

    vip = client.post("/api/codes", {"code": "VIP-1", "code_type": "vip"}, format="json")
    new = client.post("/api/codes", {"code": "ACC-1", "code_type": "access"}, format="json")

    assert vip.json()["discount_percent"] == "25.00"
    assert new.json()["code_type"] == "access"
    assert CodeType.objects.filter(slug="access").exists()
    bad_type = client.post("/api/codes", {"code": "X-1", "code_type": "Not A Slug"}, format="json")
    assert bad_type.status_code == 400


def test_percent_and_amount_are_exclusive_and_unknown_fields_refused(client_for):
    client = client_for("operator")

    both = client.post(
        "/api/codes",
        {"code": "X-1", "discount_percent": "5", "discount_amount": "5"},
        format="json",
    )
    unknown = client.post("/api/codes", {"code": "X-1", "colour": "red"}, format="json")
    too_much = client.post("/api/codes", {"code": "X-1", "discount_percent": "101"}, format="json")

    assert both.status_code == unknown.status_code == too_much.status_code == 400
    assert "colour" in unknown.json()["error"]["fields"]
    listed = client.post("/api/codes", [{"code": "X-1"}, {"code": "X-2", "x": 1}], format="json")
    assert "x" in listed.json()["error"]["fields"]["1"]


def test_put_changes_properties_and_renames_an_available_code(client_for):
    client = client_for("operator")
    make_codes(1, prefix="OLD")
    make_codes(1, prefix="OTHER")

    changed = client.put(
        "/api/codes/old-0001",
        {"discount_amount": "5.50", "campaign": "fall", "code": "NEW-1"},
        format="json",
    )

    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["code"], body["previous_code"], body["discount_amount"]) == (
        "NEW-1",
        "OLD-0001",
        "5.50",
    )
    assert body["updated_by"] == client.user.email
    clash = client.put("/api/codes/NEW-1", {"code": "other-0001"}, format="json")
    assert clash.status_code == 409
    assert client.put("/api/codes/NEW-1", {"status": "used"}, format="json").status_code == 400


def test_mark_used_is_idempotent_per_reference_and_names_the_other_reference(client_for):
    client = client_for("operator")
    make_codes(1)

    first = client.post("/api/codes/T-0001/mark-used", {"reference": "order-1"}, format="json")
    again = client.post("/api/codes/t-0001/mark-used", {"reference": "order-1"}, format="json")
    other = client.post("/api/codes/T-0001/mark-used", {"reference": "order-2"}, format="json")

    assert first.status_code == 200 and first.json()["changed"] is True
    assert first.json()["status"] == "used" and first.json()["used_by"] == client.user.email
    assert again.status_code == 200 and again.json()["changed"] is False
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "code_already_used"
    assert "order-1" in other.json()["error"]["message"]


def test_mark_used_refuses_revoked_and_expired_codes(client_for):
    client = client_for("operator")
    make_codes(1, prefix="GONE")
    make_codes(1, prefix="OLD", expires_at=timezone.now() - timedelta(days=1))

    revoked = client.post("/api/codes/GONE-0001/revoke", {"reason": "leaked"}, format="json")
    used_revoked = client.post("/api/codes/GONE-0001/mark-used", {}, format="json")
    expired = client.post("/api/codes/OLD-0001/mark-used", {}, format="json")

    assert revoked.status_code == 200 and revoked.json()["revoked_reason"] == "leaked"
    assert used_revoked.status_code == 409
    assert used_revoked.json()["error"]["code"] == "code_revoked"
    assert expired.status_code == 409 and expired.json()["error"]["code"] == "code_expired"
    again = client.post("/api/codes/GONE-0001/revoke", {}, format="json")
    assert again.json()["changed"] is False and again.json()["revoked_reason"] == "leaked"


def test_the_list_filters_by_type_status_campaign_prefix_and_ranges(client_for):
    client = client_for("viewer")
    make_codes(3, prefix="AAA", campaign="spring")
    make_codes(2, prefix="BBB", code_type="access")
    Code.objects.filter(code="AAA-0001").update(status="used", used_at=timezone.now())

    def codes(query):
        response = client.get(f"/api/codes?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["code"] for item in response.json()["results"])

    assert codes("code_type=access") == ["BBB-0001", "BBB-0002"]
    assert codes("type=access&status=available") == ["BBB-0001", "BBB-0002"]
    assert codes("status=used") == ["AAA-0001"]
    assert codes("campaign=spring&status=available") == ["AAA-0002", "AAA-0003"]
    assert codes("prefix=bbb-000") == ["BBB-0001", "BBB-0002"]
    assert codes(
        f"used_after={(timezone.now() - timedelta(hours=1)).isoformat()}".replace("+", "%2B")
    ) == ["AAA-0001"]
    ordered = client.get("/api/codes?ordering=-code&page_size=2").json()
    assert ordered["count"] == 5
    assert [item["code"] for item in ordered["results"]] == ["BBB-0002", "BBB-0001"]
    assert client.get("/api/codes?status=lost").status_code == 400
    assert client.get("/api/codes?expired=maybe").status_code == 400


def test_viewers_read_but_do_not_write(client_for):
    make_codes(1)
    viewer = client_for("viewer")

    assert viewer.get("/api/codes/T-0001").status_code == 200
    assert viewer.post("/api/codes", {"code": "V-1"}, format="json").status_code == 403
    assert viewer.post("/api/codes/T-0001/revoke", {}, format="json").status_code == 403
    assert viewer.put("/api/codes/T-0001", {"campaign": "x"}, format="json").status_code == 403


class TestCodeRoles(RoleMatrix):
    """Viewers read codes; operators create, change, allocate, mark used and revoke them."""

    list_url = "/api/codes/"
    watched_models = (Code, CodeType, CodeAllocation)
    operations = (LIST, RETRIEVE, CREATE, UPDATE, PARTIAL_UPDATE)
    create_data = {"code": "ROLES-1", "code_type": "discount", "discount_percent": "10"}
    update_data = {"campaign": "fall", "discount_percent": "20"}
    partial_update_data = {"campaign": "winter"}
    actions = (
        action("allocate", data={"code_type": "discount", "reference": "order-1"}),
        action("mark-used", detail=True, data={"reference": "order-2"}),
        action("revoke", detail=True, data={"reason": "leaked"}),
    )

    @pytest.fixture
    def instance(self):
        return make_codes(1, prefix="ROLE")[0]

    def detail_url(self, instance) -> str:
        return f"{self.list_url}{instance.code}/"
