"""How many codes a type has left to hand out, and the `pool_low` signal.

Counting a pool of a million codes on every allocation would cost more than the allocation,
so the check counts at most `low_water_mark` codes (two index range scans with a LIMIT). A
type's `pool_low_since` marks a shortage already announced: the signal fires once when the
pool falls below the mark, and again only after a refill brought it back to the mark.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from codes.models import Code, CodeType
from codes.signals import pool_low

logger = logging.getLogger(__name__)

# Two limited counts, one per allocation index, so each is an index range scan that stops
# after `limit` rows (an OR would become a bitmap scan of the whole pool).
_AVAILABLE_UP_TO_SQL = """
SELECT
  (SELECT count(*) FROM (
      SELECT 1 FROM codes_code
      WHERE code_type = %(code_type)s AND status = 'available' AND expires_at > now()
      LIMIT %(limit)s) AS expiring)
+ (SELECT count(*) FROM (
      SELECT 1 FROM codes_code
      WHERE code_type = %(code_type)s AND status = 'available' AND expires_at IS NULL
      LIMIT %(limit)s) AS open)
"""


def available_up_to(code_type: str, limit: int) -> int:
    """The number of codes of `code_type` that can be allocated now, counted up to `limit`
    (the answer is min(available, limit))."""
    with connection.cursor() as cursor:
        cursor.execute(_AVAILABLE_UP_TO_SQL, {"code_type": code_type, "limit": limit})
        return min(int(cursor.fetchone()[0]), limit)


def available_count(code_type: str) -> int:
    """Every code of `code_type` that can be allocated now (a full count)."""
    return (
        Code.objects.filter(code_type_id=code_type, status="available")
        .exclude(expires_at__lte=timezone.now())
        .count()
    )


def check_pool(code_type: str, *, low_water_mark: int | None = None) -> bool | None:
    """Compare the pool of `code_type` with its low-water mark; returns True when it is low.

    Below the mark and not yet announced: flag the type and send `pool_low` (after commit).
    At or above the mark and flagged: clear the flag (the next shortage is announced again).
    Returns None for an unknown type or a mark of 0.
    """
    if low_water_mark is None:
        low_water_mark = (
            CodeType.objects.filter(slug=code_type).values_list("low_water_mark", flat=True).first()
        )
    if not low_water_mark:
        return None
    available = available_up_to(code_type, low_water_mark)
    if available >= low_water_mark:
        CodeType.objects.filter(slug=code_type, pool_low_since__isnull=False).update(
            pool_low_since=None
        )
        return False
    # Only the process that sets the flag announces the shortage.
    flagged = CodeType.objects.filter(slug=code_type, pool_low_since__isnull=True).update(
        pool_low_since=timezone.now()
    )
    if flagged:
        transaction.on_commit(lambda: _announce(code_type, available, low_water_mark))
    return True


def _announce(code_type: str, available: int, low_water_mark: int) -> None:
    logger.warning(
        "code pool low: type %s has %s codes left to allocate (low-water mark %s)",
        code_type,
        available,
        low_water_mark,
    )
    # The allocation that got here is committed: a failing receiver must not fail it.
    responses = pool_low.send_robust(
        sender=Code, code_type=code_type, available=available, low_water_mark=low_water_mark
    )
    for receiver, outcome in responses:
        if isinstance(outcome, Exception):
            logger.error(
                "pool_low receiver %r failed for type %s",
                receiver,
                code_type,
                exc_info=(type(outcome), outcome, outcome.__traceback__),
            )


def check_pools(code_types) -> None:
    """`check_pool` for each type (after a bulk change to several)."""
    for code_type in sorted(set(code_types)):
        check_pool(code_type)
