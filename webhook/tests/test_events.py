"""Event sources → deliveries, with real commits: nothing before commit, nothing on rollback.

Transactional tests (slower) on purpose: commit hooks only run on a real commit.
"""

import json
import types
from decimal import Decimal

import pytest
from django.db import transaction

from import_manager.signals import import_completed
from product.models import Product
from product.signals import product_created, product_deleted, product_updated
from webhook.models import EventType, WebhookDelivery
from webhook.services import events
from webhook.services.events import emit_event

pytestmark = pytest.mark.django_db(transaction=True)


def payloads(event_type=None):
    """The stored bodies, numbers read as Decimals (as a receiver keeping money exact)."""
    rows = WebhookDelivery.objects.order_by("id")
    if event_type:
        rows = rows.filter(event_type=event_type)
    return [json.loads(row.request_body, parse_float=Decimal) for row in rows]


def make_product(**fields):
    values = {
        "sku": "SKU-1",
        "name": "Blue mug",
        "price": Decimal("12.50"),
        "cost": Decimal("4.00"),
        "attributes": {"colour": "blue"},
    }
    return Product.objects.create(**{**values, **fields})


def test_deliveries_are_created_and_published_only_after_commit(make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    with transaction.atomic():
        emit_event(EventType.PRODUCT_CREATED, {"sku": "A"})
        assert not WebhookDelivery.objects.exists()
        assert published == []
    [row] = WebhookDelivery.objects.all()
    assert published == [(row.pk, 0)]


def test_a_rolled_back_change_sends_nothing(make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    with pytest.raises(RuntimeError), transaction.atomic():
        product = make_product()
        product_created.send(sender=Product, product=product)
        raise RuntimeError("the request failed after the event")
    assert not WebhookDelivery.objects.exists()
    assert published == []


def test_product_created_signal_sends_our_product_data(make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    product = make_product()

    product_created.send(sender=Product, product=product)

    [payload] = payloads()
    assert payload["event_type"] == "product.created"
    data = payload["data"]
    assert data["id"] == product.pk
    assert data["sku"] == "SKU-1"
    assert data["price"] == Decimal("12.50")
    assert data["compare_at_price"] is None
    assert data["attributes"] == {"colour": "blue"}
    assert data["created_at"].endswith("Z")
    assert "cost" not in data  # internal: not sent to the outside


def test_product_updated_lists_the_changed_fields(make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    product = make_product()
    product.price = Decimal("9.99")
    product.save()

    product_updated.send(sender=Product, product=product, changes=["price", "name"])

    [payload] = payloads()
    assert payload["event_type"] == "product.updated"
    assert payload["data"]["price"] == Decimal("9.99")
    assert payload["data"]["changes"] == ["name", "price"]


def test_product_deleted_uses_the_snapshot_without_internal_fields(make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    snapshot = {"id": 7, "sku": "GONE-1", "name": "Old", "price": "3.00", "cost": "1.00"}

    product_deleted.send(sender=Product, product_data=snapshot)

    [payload] = payloads()
    assert payload["event_type"] == "product.deleted"
    assert payload["data"] == {"id": 7, "sku": "GONE-1", "name": "Old", "price": Decimal("3.00")}
    assert '"price":3.00}' in WebhookDelivery.objects.get().request_body


def test_money_is_a_json_number_with_exactly_the_stored_digits(make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    product = make_product(price=Decimal("12345678.10"), compare_at_price=Decimal("29.99"))

    product_created.send(sender=Product, product=product)

    body = WebhookDelivery.objects.get().request_body
    assert '"price":12345678.10,' in body
    assert '"compare_at_price":29.99,' in body
    data = payloads()[0]["data"]
    assert (data["price"], data["compare_at_price"]) == (Decimal("12345678.10"), Decimal("29.99"))


def test_encode_body_writes_decimals_verbatim_and_refuses_nan():
    from webhook.services.delivery import encode_body

    assert encode_body({"a": Decimal("0.10"), "b": Decimal("-3"), "c": 1.5}) == (
        '{"a":0.10,"b":-3,"c":1.5}'
    )
    # More digits than a float holds: a float on the way would have rounded them.
    assert encode_body({"p": Decimal("12345678901234567.89")}) == '{"p":12345678901234567.89}'

    with pytest.raises(ValueError):
        encode_body({"p": Decimal("NaN")})


def test_the_sample_product_has_every_public_column(make_webhook):
    from product.columns import PUBLIC_COLUMNS

    data = events.sample_data(EventType.PRODUCT_CREATED, make_webhook("http://127.0.0.1:9/"))

    assert list(data) == ["id", *PUBLIC_COLUMNS, "created_at", "updated_at"]
    assert data["price"] == Decimal("19.99") and "cost" not in data


def test_signals_sent_inside_a_transaction_wait_for_its_commit(make_webhook, published):
    make_webhook("http://127.0.0.1:9/")
    with transaction.atomic():
        product = make_product()
        product_created.send(sender=Product, product=product)
        assert not WebhookDelivery.objects.exists()
    assert len(payloads("product.created")) == 1


def test_import_completed_via_emit_event_sends_one_summary(make_webhook, published):
    webhook = make_webhook("http://127.0.0.1:9/", event_types=[EventType.IMPORT_COMPLETED])
    summary = {"created": 400_000, "updated": 100_000, "failed": 0}

    emit_event(EventType.IMPORT_COMPLETED, {"job_id": "j-1", "summary": summary})

    [row] = webhook.deliveries.all()
    assert row.event_type == "import.completed"
    assert payloads()[0]["data"] == {"job_id": "j-1", "summary": summary}


def test_import_completed_receiver_builds_data_from_the_job(make_webhook, published):
    make_webhook("http://127.0.0.1:9/", event_types=[EventType.IMPORT_COMPLETED])
    job = types.SimpleNamespace(
        pk="5b0c", kind="catalog.import", status="completed", title="Spring", finished_at=None
    )

    events.on_import_completed(sender=None, job=job, summary={"created": 2})

    data = payloads()[0]["data"]
    assert data == {
        "job_id": "5b0c",
        "kind": "catalog.import",
        "status": "completed",
        "title": "Spring",
        "finished_at": None,
        "summary": {"created": 2},
    }


def test_import_completed_signal_becomes_an_import_completed_event(make_webhook, published):
    make_webhook("http://127.0.0.1:9/", event_types=[EventType.IMPORT_COMPLETED])
    job = types.SimpleNamespace(pk=1, kind="catalog.import", status="completed", title="")
    import_completed.send(sender=None, job=job, summary={"created": 1})

    assert payloads("import.completed")[0]["data"]["summary"] == {"created": 1}


def test_a_failing_receiver_never_breaks_the_sender(make_webhook, published, monkeypatch):
    make_webhook("http://127.0.0.1:9/")

    def broken(product):
        raise ValueError("cannot serialize")

    monkeypatch.setattr(events, "product_event_data", broken)
    product_created.send(sender=Product, product=make_product())  # no exception
    assert not WebhookDelivery.objects.exists()


def test_unknown_event_types_are_refused():
    with pytest.raises(ValueError, match="Unknown webhook event type"):
        emit_event("product.exploded", {})
