"""What a code and a code type may look like (Django-free, shared by the API and bulk jobs).

A code is stored as typed (surrounding whitespace removed) and is unique regardless of letter
case, as Shopify and Stripe treat codes. The outcomes are the per-row words of the bulk jobs,
modelled on Shopify's bulk code creation errors (BLANK, TOO_LONG, TAKEN, DUPLICATE).
"""

from __future__ import annotations

import re

#: Shopify's limit for a discount code, and ours.
CODE_MAX_LENGTH = 255
#: Letters, digits and `- _ . + % # @ ! :`; no spaces, slashes, quotes, commas or controls,
#: so a code survives URLs, CSV cells and the ticketing platform's admin unchanged.
CODE_CHARACTERS = r"A-Za-z0-9_.+%#@!:\-"
CODE_RE = re.compile(rf"[{CODE_CHARACTERS}]+")
#: The same rule for PostgreSQL's `~` (bulk jobs check in SQL).
CODE_SQL_PATTERN = rf"^[{CODE_CHARACTERS}]+$"

#: A code type is a short lower-case slug: `discount`, `access`, `vip-2025`.
CODE_TYPE_MAX_LENGTH = 32
CODE_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

# Per-row outcomes.
CREATED = "created"
WOULD_CREATE = "would_create"  # dry run
BLANK = "blank"
TOO_LONG = "too_long"
BAD_CHARACTERS = "bad_characters"
DUPLICATE = "duplicate"  # the same code earlier in the same file
TAKEN = "taken"  # the code exists already (any letter case)
INVALID_TYPE = "invalid_type"
INVALID_DISCOUNT = "invalid_discount"
INVALID_EXPIRY = "invalid_expiry"
INVALID_CAMPAIGN = "invalid_campaign"
CAMPAIGN_MAX_LENGTH = 128


def code_problem(code: str | None) -> str | None:
    """The outcome word for a code text that cannot be stored (None when it can)."""
    if code is None or not code.strip():
        return BLANK
    code = code.strip()
    if len(code) > CODE_MAX_LENGTH:
        return TOO_LONG
    if not CODE_RE.fullmatch(code):
        return BAD_CHARACTERS
    return None


PROBLEM_MESSAGES = {
    BLANK: "The code is blank.",
    TOO_LONG: f"The code is longer than {CODE_MAX_LENGTH} characters.",
    BAD_CHARACTERS: "The code may only hold letters, digits and - _ . + % # @ ! : (no spaces).",
    DUPLICATE: "The same code appears earlier in the file (codes ignore letter case).",
    TAKEN: "A code with this text exists already (codes ignore letter case).",
    INVALID_TYPE: "The code type must be a lower-case slug (letters, digits, - and _).",
    INVALID_DISCOUNT: "The discount must be a percentage between 0 and 100.",
    INVALID_EXPIRY: "The expiry must be an ISO 8601 date or date-time.",
    INVALID_CAMPAIGN: f"The campaign is longer than {CAMPAIGN_MAX_LENGTH} characters.",
}
