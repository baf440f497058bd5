"""Order events from Make.com (the inbound inbox, webhook.services.inbox): `order.created`
allocates a code for the order and queues the code email to the buyer.

Runs inside the inbox's transaction: the allocation, the email row and its job commit
together with the event marked processed, or none of them (a failure leaves the event
`failed`, replayable). It is quick (one allocation statement, two inserts); the email itself
is sent by its job after commit. Idempotent by order id: a second event for the same order
(another event id) gets the same code (allocation reference) and no second email (the
email's idempotency key).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from codes.models import EmailMessage
from webhook.exceptions import InboundEventRejected
from webhook.services import inbox
from webhook.services.receivers import MAKE_SOURCE

from .allocation import allocate_code
from .email import queue_email

ORDER_CREATED = "order.created"


def handle_order_created(event) -> dict:
    """Allocate a code of CODES_ORDER_CODE_TYPE for the order and queue the email (template
    CODES_ORDER_EMAIL_TEMPLATE) to its buyer. Raises InboundEventRejected (422) for an event
    without a usable order id or buyer email, PoolEmpty (409) when no code is left."""
    order = event.payload.get("order")
    if not isinstance(order, dict):
        raise InboundEventRejected("order: an object is required.", fields={"order": ["Required."]})
    order_id = order.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, str | int) or not str(order_id):
        raise InboundEventRejected("order.id is required.", fields={"order.id": ["Required."]})
    order_id = str(order_id)[:150]
    buyer_email = order.get("buyer_email")
    try:
        validate_email(buyer_email if isinstance(buyer_email, str) else "")
    except ValidationError:
        raise InboundEventRejected(
            "order.buyer_email must be an email address.",
            fields={"order.buyer_email": ["Not an email address."]},
        ) from None
    allocation = allocate_code(
        settings.CODES_ORDER_CODE_TYPE,
        reference=order_id,
        idempotency_key=f"order:{event.source}:{order_id}",
    )
    code = allocation.code
    email_key = f"order-code:{event.source}:{order_id}"
    # One code email per order, whatever later events for it say (a changed total, ...).
    message = EmailMessage.objects.filter(idempotency_key=email_key).first()
    email_queued = message is None
    if message is None:
        message = queue_email(
            to=buyer_email,
            template=settings.CODES_ORDER_EMAIL_TEMPLATE,
            context={
                "code": code.code,
                "code_type": code.code_type_id,
                "discount_percent": str(code.discount_percent or ""),
                "order": order,
            },
            reference=f"order:{order_id}",
            idempotency_key=email_key,
            code=code,
        ).message
    return {
        "order_id": order_id,
        "code": code.code,
        "code_id": str(code.pk),
        "code_allocated": allocation.created,
        "email_id": message.pk,
        "email_queued": email_queued,
        "job_id": str(message.job_id) if message.job_id else None,
    }


def register_inbound_handlers() -> None:
    """Called from CodesConfig.ready()."""
    inbox.register_handler(MAKE_SOURCE, ORDER_CREATED, handle_order_created)
