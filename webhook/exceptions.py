"""The webhook app's errors (the API error handler maps them to HTTP codes)."""

from core.exceptions import ConflictError, PlatformError


class DeliveryStateConflict(ConflictError):
    code = "delivery_state_conflict"


# --- inbound events (webhook.services.inbox) ---------------------------------------------


class InboundNotConfigured(PlatformError):
    """The receiver has no secret configured (MAKE_TOKEN unset): nothing can authenticate."""

    code = "receiver_not_configured"
    status = 503


class InboundUnauthorized(PlatformError):
    code = "invalid_token"
    status = 401


class InboundPayloadTooLarge(PlatformError):
    code = "payload_too_large"
    status = 413


class InboundEventConflict(ConflictError):
    """The event id was seen before with a different body."""

    code = "event_conflict"


class InboundEventNotReplayable(ConflictError):
    code = "event_not_replayable"


class InboundHandlerFailed(PlatformError):
    """A handler raised something unexpected: the event is stored `failed`, and a retry of
    the same event (or an operator's replay) runs the handler again."""

    code = "handler_failed"
    status = 503


class InboundEventRejected(PlatformError):
    """Raised by a handler for an event it can never process as sent (a missing field):
    stored `failed`; answered 422 so the sender does not retry it blindly."""

    code = "event_rejected"
    status = 422
