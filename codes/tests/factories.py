"""Making codes for tests (through the services, as the API does)."""

from __future__ import annotations

from codes.services.codes import create_codes


def make_codes(count: int, *, code_type: str = "discount", prefix: str = "T", **fields):
    """`count` available codes `<prefix>-0001`, ... of `code_type`."""
    items = [
        {"code": f"{prefix}-{number:04d}", "code_type": code_type, **fields}
        for number in range(1, count + 1)
    ]
    return create_codes(items)
