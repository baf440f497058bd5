"""The codes app's errors (the API error handler maps them to HTTP codes)."""

from __future__ import annotations

from core.exceptions import ConflictError, PlatformError


class PoolEmpty(ConflictError):
    """No code of the type is left to hand out (or every one left is being handed out)."""

    code = "pool_empty"

    def __init__(self, code_type: str):
        super().__init__(f"No available code of type '{code_type}' is left to allocate.")
        self.code_type = code_type


class AllocationInProgress(ConflictError):
    code = "allocation_in_progress"


class UnknownCodeType(PlatformError):
    code = "unknown_code_type"

    def __init__(self, code_type: str, field: str = "code_type"):
        message = f"There is no code type '{code_type}'."
        super().__init__(message, fields={field: [message]})
        self.code_type = code_type


class IdempotencyKeyReused(ConflictError):
    """The idempotency key was used for another request: an allocation with another type or
    reference, an email with other content."""

    code = "idempotency_key_reused"


class CodeTaken(ConflictError):
    """A code with this text exists already (codes ignore letter case)."""

    code = "code_taken"


class CodeAlreadyUsed(ConflictError):
    code = "code_already_used"

    def __init__(self, code: str, reference: str):
        named = f"'{reference}'" if reference else "another use (no reference)"
        super().__init__(f"Code '{code}' was already used for {named}.")
        self.reference = reference


class CodeRevoked(ConflictError):
    code = "code_revoked"


class CodeExpired(ConflictError):
    code = "code_expired"


class InvalidCode(PlatformError):
    code = "invalid_code"


class PatternTooSmall(PlatformError):
    """A code pattern cannot yield as many distinct codes as asked for."""

    code = "pattern_too_small"


class CodeFileError(PlatformError):
    """An input file of a bulk job cannot be used (missing column, not a workbook, ...)."""

    code = "invalid_file"


class FientaCliFailed(PlatformError):
    """The Fienta CLI exited with an error; the message ends with its last lines."""

    code = "fienta_cli_failed"


class ShopifySyncFailed(PlatformError):
    code = "shopify_sync_failed"


# --- email -------------------------------------------------------------------------------


class InvalidEmail(PlatformError):
    code = "invalid_email"


class EmailTemplateError(PlatformError):
    """The stored template is missing, or does not render with the given context."""

    code = "template_error"


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
