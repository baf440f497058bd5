"""The webhooks REST API: CRUD, secret shown once, validation, SSRF, test send, deliveries."""

import json
import logging

import pytest

from core.models import Role
from core.testing.role_matrix import RoleMatrix, action
from webhook.models import DeliveryStatus, EventType, Webhook, WebhookDelivery
from webhook.services.events import emit_event
from webhook.testing.receiver import Reply

from .helpers import committed, run_published

pytestmark = pytest.mark.django_db

URL = "/api/webhooks/"


def body(receiver_url, **fields):
    return {
        "name": "ERP",
        "url": receiver_url,
        "event_types": ["product.created", "product.updated"],
        "headers": {"X-Tenant": "acme"},
        "timeout": 5,
        **fields,
    }


class TestWebhookRoles(RoleMatrix):
    """Webhooks hold receiver URLs and headers (often credentials): operators only, reads too."""

    list_url = URL
    watched_models = (Webhook, WebhookDelivery)
    read_role = write_role = Role.OPERATOR
    create_data = body("http://127.0.0.1:9/hooks/new")
    update_data = body("http://127.0.0.1:9/hooks/new", name="Renamed")
    partial_update_data = {"name": "Renamed"}
    actions = (
        action("test", detail=True, data={}),
        action("rotate-secret", detail=True),
        action("deliveries", "get", detail=True),
    )

    @pytest.fixture
    def instance(self, make_webhook, receiver):
        return make_webhook(receiver.url)


def test_secret_is_shown_once_on_create_and_never_again(operator, receiver):
    created = operator.post(URL, body(receiver.url), format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    webhook = Webhook.objects.get(pk=data["id"])
    assert data["secret"] == webhook.secret and data["secret"].startswith("whsec_")
    assert data["event_types"] == ["product.created", "product.updated"]
    assert data["created_by"] == operator.user.pk

    detail = operator.get(f"{URL}{webhook.pk}/")
    listing = operator.get(URL)
    assert detail.status_code == listing.status_code == 200
    assert "secret" not in detail.json()
    assert "secret" not in listing.json()["results"][0]
    for response in (detail, listing):
        assert webhook.secret not in response.content.decode()


def test_secret_cannot_be_chosen_by_the_client(operator, receiver):
    response = operator.post(URL, body(receiver.url, secret="whsec_mine"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["secret"] == ["Unknown field."]


def test_rotate_secret_shows_the_new_secret_once(operator, make_webhook, receiver):
    webhook = make_webhook(receiver.url)
    response = operator.post(f"{URL}{webhook.pk}/rotate-secret/")
    assert response.status_code == 200
    webhook.refresh_from_db()
    assert response.json()["secret"] == webhook.secret


def test_put_updates_and_delete_removes(operator, make_webhook, receiver):
    webhook = make_webhook(receiver.url)
    secret = webhook.secret
    response = operator.put(
        f"{URL}{webhook.pk}/",
        body(receiver.url, event_types=["import.completed"], is_enabled=False, timeout=30),
        format="json",
    )
    assert response.status_code == 200, response.json()
    webhook.refresh_from_db()
    assert webhook.event_types == ["import.completed"]
    assert webhook.is_enabled is False and webhook.timeout == 30
    assert webhook.secret == secret  # updates never touch the secret
    assert "secret" not in response.json()

    assert operator.delete(f"{URL}{webhook.pk}/").status_code == 204
    assert not Webhook.objects.filter(pk=webhook.pk).exists()


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"event_types": []}, "event_types", "empty"),
        ({"event_types": ["product.exploded"]}, "event_types", "not a valid choice"),
        ({"timeout": 0}, "timeout", "greater than or equal to 1"),
        ({"timeout": 31}, "timeout", "less than or equal to 30"),
        ({"headers": {"webhook-signature": "x"}}, "headers", "set by the platform"),
        ({"headers": {"Content-Type": "text/plain"}}, "headers", "set by the platform"),
        ({"headers": {"Host": "internal"}}, "headers", "set by the platform"),
        ({"headers": {"Bad Name": "x"}}, "headers", "not a valid header name"),
        ({"headers": {"X-A": "a\r\nX-Injected: 1"}}, "headers", "without line breaks"),
        ({"headers": {"X-A": 5}}, "headers", "must be a string"),
        ({"headers": ["X-A"]}, "headers", "must be an object"),
        ({"url": "ftp://example.com/"}, "url", ""),
    ],
)
def test_invalid_input_is_a_clear_400(operator, receiver, fields, field, fragment):
    response = operator.post(URL, body(receiver.url, **fields), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert fragment in json.dumps(error["fields"][field])
    assert not Webhook.objects.exists()


def test_private_url_is_refused_on_create_and_update(operator, receiver, settings):
    webhook = Webhook.objects.create(url=receiver.url, event_types=["product.created"])
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    for url in ("http://127.0.0.1:8000/hook", "http://169.254.169.254/latest/meta-data/"):
        created = operator.post(URL, body(url), format="json")
        updated = operator.put(f"{URL}{webhook.pk}/", body(url), format="json")
        for response in (created, updated):
            assert response.status_code == 400
            [message] = response.json()["error"]["fields"]["url"]
            assert "private, loopback or link-local" in message
    assert Webhook.objects.count() == 1
    webhook.refresh_from_db()
    assert webhook.url == receiver.url


def test_test_action_reports_status_time_and_excerpt(operator, make_webhook, receiver):
    webhook = make_webhook(receiver.url, event_types=["product.deleted"])
    receiver.secret = webhook.secret
    receiver.script(Reply(202, b"accepted by ERP"))

    response = operator.post(f"{URL}{webhook.pk}/test/", {}, format="json")

    assert response.status_code == 200
    result = response.json()
    assert result["success"] is True
    assert result["status_code"] == 202
    assert result["response_excerpt"] == "accepted by ERP"
    assert isinstance(result["duration_ms"], int)
    assert result["delivery"]["is_test"] is True
    [request] = receiver.requests
    assert request.signature_valid
    assert request.json()["event_type"] == "webhook.test"


def test_test_action_can_send_a_sample_of_a_real_event_type(operator, make_webhook, receiver):
    webhook = make_webhook(receiver.url)
    response = operator.post(
        f"{URL}{webhook.pk}/test/", {"event_type": "product.updated"}, format="json"
    )
    assert response.json()["success"] is True
    payload = receiver.requests[0].json()
    assert payload["event_type"] == "product.updated"
    assert payload["data"]["sku"] == "SAMPLE-0001"
    assert b'"price":19.99,' in receiver.requests[0].body


def test_test_action_reports_failure_without_retrying(operator, make_webhook, receiver):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(500, b"down"))
    result = operator.post(f"{URL}{webhook.pk}/test/", {}, format="json").json()
    assert result["success"] is False
    assert (result["status_code"], result["response_excerpt"]) == (500, "down")
    assert webhook.deliveries.count() == 1
    assert len(receiver.requests) == 1


def test_test_action_refuses_a_private_target_at_send_time(
    operator, make_webhook, receiver, settings
):
    webhook = make_webhook(receiver.url)
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    result = operator.post(f"{URL}{webhook.pk}/test/", {}, format="json").json()
    assert result["success"] is False
    assert result["status_code"] is None
    assert result["error"].startswith("Refused:")
    assert receiver.requests == []


def test_deliveries_are_listed_newest_first_with_every_attempt(
    operator, make_webhook, receiver, published
):
    webhook = make_webhook(receiver.url)
    other = make_webhook(receiver.url, event_types=["product.deleted"])  # not this event
    receiver.script(Reply(500), Reply(503), Reply(200))
    committed(emit_event, EventType.PRODUCT_CREATED, {"sku": "A"})
    run_published(published)

    response = operator.get(f"{URL}{webhook.pk}/deliveries/")

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    rows = data["results"]
    assert [r["attempt"] for r in rows] == [3, 2, 1]
    assert [r["status"] for r in rows] == ["succeeded", "retrying", "retrying"]
    assert [r["response_status"] for r in rows] == [200, 503, 500]
    assert {r["webhook"] for r in rows} == {webhook.pk}
    first = rows[-1]
    assert set(first["request_headers"]) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert json.loads(first["request_body"])["event_type"] == "product.created"
    assert first["duration_ms"] is not None
    assert operator.get(f"{URL}{other.pk}/deliveries/").json()["count"] == 0

    filtered = operator.get(f"{URL}{webhook.pk}/deliveries/?status=succeeded").json()
    assert [r["attempt"] for r in filtered["results"]] == [3]
    assert operator.get(f"{URL}999999/deliveries/").status_code == 404


def test_failed_delivery_is_resent_through_the_api(
    operator, make_webhook, receiver, published, django_capture_on_commit_callbacks
):
    webhook = make_webhook(receiver.url)
    receiver.script(Reply(400))
    committed(emit_event, EventType.PRODUCT_CREATED, {"sku": "A"})
    run_published(published)
    failed = webhook.deliveries.get()
    assert failed.status == DeliveryStatus.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"{URL}{webhook.pk}/deliveries/{failed.pk}/resend/")

    assert response.status_code == 202
    resent = response.json()
    assert (resent["status"], resent["attempt"], resent["resend_of"]) == ("pending", 2, failed.pk)
    assert resent["message_id"] == failed.message_id
    assert published == [(resent["id"], 0)]

    receiver.script(Reply(200))
    run_published(published)
    assert WebhookDelivery.objects.get(pk=resent["id"]).status == DeliveryStatus.SUCCEEDED

    again = operator.post(f"{URL}{webhook.pk}/deliveries/{failed.pk}/resend/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "delivery_state_conflict"


def test_secret_is_never_logged_by_create_test_or_delivery(operator, receiver, caplog, published):
    caplog.set_level(logging.DEBUG)
    created = operator.post(URL, body(receiver.url), format="json").json()
    operator.post(f"{URL}{created['id']}/test/", {}, format="json")
    committed(emit_event, EventType.PRODUCT_CREATED, {"sku": "A"})
    run_published(published)
    listing = operator.get(f"{URL}{created['id']}/deliveries/")

    assert len(receiver.requests) == 2
    secret = created["secret"]
    assert secret.removeprefix("whsec_") not in caplog.text
    assert secret.removeprefix("whsec_") not in listing.content.decode()


def test_openapi_schema_documents_the_webhook_endpoints(operator):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert "/api/webhooks/{id}/test/" in paths
    assert "/api/webhooks/{webhook_pk}/deliveries/{id}/resend/" in paths
    created = paths["/api/webhooks/"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("WebhookCreated")
