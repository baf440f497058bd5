"""Validation of the custom headers a webhook adds to every request."""

import re

from django.core.exceptions import ValidationError

MAX_HEADERS = 20
MAX_NAME_LENGTH = 100
MAX_VALUE_LENGTH = 1000
# RFC 9110 token characters.
_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Visible ASCII, space and tab: no CR/LF (header injection), no NUL, no other controls.
_VALUE_RE = re.compile(r"^[\t\x20-\x7e]*$")
# Headers the platform sets itself (signature scheme, body framing, routing) or that would
# change how the connection behaves; a custom header may not override them.
RESERVED_NAMES = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "user-agent",
        "proxy-authorization",
        "proxy-connection",
    }
)
RESERVED_PREFIXES = ("webhook-", "proxy-")
# Values of headers named like this are masked on delivery rows (they are logs).
_SENSITIVE_RE = re.compile(r"(?i)authorization|token|secret|password|api[-_]?key|cookie|auth")
MASK = "********"


def validate_custom_headers(value) -> None:
    """Raise ValidationError unless `value` is a {name: value} dict of allowed headers."""
    if not isinstance(value, dict):
        raise ValidationError("Headers must be an object of header names to values.")
    if len(value) > MAX_HEADERS:
        raise ValidationError(f"At most {MAX_HEADERS} custom headers are allowed.")
    seen: set[str] = set()
    errors = []
    for name, header_value in value.items():
        lowered = str(name).lower()
        if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
            errors.append(f"'{name}' is not a valid header name.")
        elif lowered in RESERVED_NAMES or lowered.startswith(RESERVED_PREFIXES):
            errors.append(f"'{name}' is set by the platform and cannot be overridden.")
        elif lowered in seen:
            errors.append(f"'{name}' is given more than once.")
        elif not isinstance(header_value, str):
            errors.append(f"The value of '{name}' must be a string.")
        elif not _VALUE_RE.match(header_value) or len(header_value) > MAX_VALUE_LENGTH:
            errors.append(
                f"The value of '{name}' must be printable ASCII without line breaks "
                f"(at most {MAX_VALUE_LENGTH} characters)."
            )
        seen.add(lowered)
    if errors:
        raise ValidationError(errors)


def masked(headers: dict) -> dict:
    """A copy of `headers` with the values of credential-like headers replaced by a mask."""
    return {
        name: MASK
        if _SENSITIVE_RE.search(name) and not name.lower().startswith("webhook-")
        else value
        for name, value in headers.items()
    }
