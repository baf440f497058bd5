"""The webhook app's errors (the API error handler maps them to HTTP codes)."""

from core.exceptions import ConflictError


class DeliveryStateConflict(ConflictError):
    code = "delivery_state_conflict"
