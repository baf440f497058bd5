"""The codes app's errors (the API error handler maps them to HTTP codes)."""

from core.exceptions import ConflictError, PlatformError

# --- email -------------------------------------------------------------------------------


class InvalidEmail(PlatformError):
    code = "invalid_email"


class EmailTemplateError(PlatformError):
    """The stored template is missing, or does not render with the given context."""

    code = "template_error"


class IdempotencyKeyReused(ConflictError):
    code = "idempotency_key_reused"


class EmailStateConflict(ConflictError):
    code = "email_state_conflict"


class EmailAttemptFailed(Exception):
    """Raised by the email job after an attempt that did not send (its job ends failed; the
    message says whether another attempt follows)."""


# --- links -------------------------------------------------------------------------------


class InvalidLink(PlatformError):
    code = "invalid_link"


class LinkSlugTaken(ConflictError):
    code = "slug_taken"
