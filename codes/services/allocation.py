"""Race-safe, idempotent allocation: hand out one available code of a type and mark it used.

One statement does the work (`ALLOCATE_SQL`):

1. `existing`: an earlier allocation with the same idempotency key, or for the same
   (type, reference), if any;
2. `picked`: `UPDATE codes_code SET status = 'used' ... WHERE id = (SELECT ... FOR UPDATE
   SKIP LOCKED LIMIT 1) RETURNING ...` when there is none: concurrent callers lock different
   rows, nobody waits for anybody, and a code is never handed out twice. The soonest-expiring
   unexpired code goes first, then codes without expiry, oldest (lowest UUIDv7) first; an
   expired or revoked code never qualifies;
3. `claimed`: the `CodeAllocation` row for it, `ON CONFLICT DO NOTHING` against the unique
   (type, reference) and key constraints.

Two concurrent calls with the same key or reference both pick a code, but only one claim
commits: the other's INSERT waits for it and claims nothing, and then the statement itself
fails (`CLAIM_LOST`), so everything it did is rolled back (its code stays available); the
call then returns the winner's code. So one order never gets two codes, whatever the timing.

Outside a transaction the statement runs on its own (autocommit: one round trip, no BEGIN
and COMMIT of their own); inside one, in a savepoint.

The pool check (`codes.pool_low`) costs nothing while the pool is plainly above the type's
low-water mark: the statement also tells whether the mark-th newest available code exists
(a few index entries read from the pool's far end); only when it does not is the pool
counted (`check_pool`, after commit).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
import zlib
from dataclasses import dataclass
from functools import cache

import psycopg
from django.conf import settings
from django.db import DataError, ProgrammingError, connection, transaction

from codes.exceptions import (
    AllocationInProgress,
    IdempotencyKeyReused,
    PoolEmpty,
    UnknownCodeType,
)
from codes.models import Code, CodeAllocation
from codes.rules import CODE_TYPE_MAX_LENGTH
from core.exceptions import PlatformError

from .pool import check_pool

logger = logging.getLogger(__name__)

MAX_REFERENCE_LENGTH = 255
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Allocation:
    """What `allocate_code` returns: the code, and whether this call allocated it (False: an
    earlier call with the same key or reference did, and this one returns the same code)."""

    code: Code
    created: bool

    @property
    def allocated_at(self):
        return self.code.used_at


#: The message of the error the statement raises when its claim lost (see the docstring).
CLAIM_LOST = "codes: allocation claim lost"

# Planner notes, both measured (EXPLAIN ANALYZE, bench/bench_codes.py):
# - `code_type >= X AND code_type <= X ... ORDER BY code_type, id` is `code_type = X ...
#   ORDER BY id` written so that only the partial index (code_type, id) yields that order.
#   With `= X` the primary key yields `ORDER BY id` too, and whenever most rows are of the
#   type (one type, or a big one) the planner walks the primary key, filtering out every code
#   handed out before: 25 ms per allocation at 100k used codes instead of 0.05 ms.
# - The claim-lost error is a cast of a text that depends on the row (a constant one would
#   be folded, and raised, while planning).
# - It is a prepared statement (server-side parameters, `prepare=True`): planning it cost as
#   much as running it (~0.35 ms each). So every condition reads well in a generic plan,
#   values unknown: the earlier allocation is looked up with the partial unique indexes'
#   predicates (`<> ''`) spelled out, each lookup on its own (an OR of both was a seq scan).
ALLOCATE_SQL = """
WITH existing AS (
    SELECT found.code_id, found.code_type, found.reference, found.idempotency_key
    FROM (
        SELECT a.code_id, a.code_type, a.reference, a.idempotency_key, 0 AS rank
        FROM codes_codeallocation AS a
        WHERE a.idempotency_key = %(key)s AND a.idempotency_key <> ''
        UNION ALL
        SELECT a.code_id, a.code_type, a.reference, a.idempotency_key, 1 AS rank
        FROM codes_codeallocation AS a
        WHERE a.code_type = %(code_type)s AND a.reference = %(reference)s AND a.reference <> ''
    ) AS found
    ORDER BY found.rank
    LIMIT 1
), picked AS (
    UPDATE codes_code AS c
    SET status = 'used', used_at = now(), updated_at = now(), reference = %(reference)s,
        used_by_id = %(actor)s, updated_by_id = %(actor)s
    WHERE c.id = COALESCE(
        (SELECT id FROM codes_code
         WHERE code_type = %(code_type)s AND status = 'available' AND expires_at > now()
           AND NOT EXISTS (SELECT 1 FROM existing)
         ORDER BY expires_at, id
         LIMIT 1 FOR UPDATE SKIP LOCKED),
        (SELECT id FROM codes_code
         WHERE code_type >= %(code_type)s AND code_type <= %(code_type)s
           AND status = 'available' AND expires_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM existing)
         ORDER BY code_type, id
         LIMIT 1 FOR UPDATE SKIP LOCKED))
    RETURNING {returning}
), claimed AS (
    INSERT INTO codes_codeallocation
        (code_id, code_type, reference, idempotency_key, allocated_by_id, allocated_at)
    SELECT id, %(code_type)s, %(reference)s, %(key)s, %(actor)s, used_at FROM picked
    ON CONFLICT DO NOTHING
    RETURNING code_id
)
SELECT {picked_columns},
       CASE WHEN p.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM claimed)
            THEN ('{claim_lost} ' || p.id::text)::integer END,
       e.code_id, e.code_type, e.reference, e.idempotency_key,
       t.slug, t.low_water_mark, t.pool_low_since IS NOT NULL,
       p.id IS NOT NULL AND t.low_water_mark > 0 AND t.pool_low_since IS NULL AND (
           EXISTS (SELECT 1 FROM codes_code
                   WHERE code_type >= %(code_type)s AND code_type <= %(code_type)s
                     AND status = 'available' AND expires_at IS NULL
                   ORDER BY code_type DESC, id DESC
                   OFFSET t.low_water_mark LIMIT 1)
           OR EXISTS (SELECT 1 FROM codes_code
                      WHERE code_type = %(code_type)s AND status = 'available'
                        AND expires_at > now()
                      ORDER BY expires_at DESC, id DESC
                      OFFSET t.low_water_mark LIMIT 1))
FROM (SELECT 1) AS one
LEFT JOIN picked AS p ON true
LEFT JOIN existing AS e ON true
LEFT JOIN codes_codetype AS t ON t.slug = %(code_type)s
"""


@cache
def _code_columns() -> list[str]:
    return [field.column for field in Code._meta.concrete_fields]


@cache
def allocate_statement() -> str:
    """The allocation statement (also what the benchmark's bare SQL function runs)."""
    columns = _code_columns()
    return ALLOCATE_SQL.format(
        returning=", ".join(f"c.{name}" for name in columns),
        picked_columns=", ".join(f"p.{name}" for name in columns),
        claim_lost=CLAIM_LOST,
    )


class _NotPrepared(Exception):
    """The connection no longer has the prepared statement (the call ran nothing)."""


class _ClaimLost(Exception):
    """A concurrent call with the same key or reference committed first."""


def allocate_code(
    code_type: str, *, reference: str = "", idempotency_key: str = "", actor=None
) -> Allocation:
    """Hand out one available code of `code_type`, marked used, in one statement.

    Idempotent: a call with the idempotency key (or the (type, reference)) of an earlier
    allocation returns that allocation's code with `created=False`, never a second code.
    `reference` is what the code is for (an order id); `actor` the user allocating (or None).

    Raises PoolEmpty (409 `pool_empty`) when no code of the type can be handed out,
    UnknownCodeType for a type that does not exist, and IdempotencyKeyReused (409) when the
    key was used before for another type or reference.
    """
    params = _params(code_type, reference, idempotency_key, actor)
    try:
        allocation, low_water = _allocate(params)
    except _ClaimLost:
        found = _existing(params)
        if found is None:  # the winner rolled back after all: try once more
            allocation, low_water = _allocate(params, retried=True)
        else:
            allocation, low_water = found, None
    if low_water is not None:
        mark, already_low = low_water
        if mark and not already_low:
            # After commit and outside the statement: the check must never undo or delay a
            # committed allocation (a failure is only logged).
            transaction.on_commit(lambda: _check_pool_safely(params["code_type"], mark))
    return allocation


def _params(code_type, reference, idempotency_key, actor) -> dict:
    code_type = (code_type or "").strip().lower()
    reference = (reference or "").strip()
    key = (idempotency_key or "").strip()
    if not code_type or len(code_type) > CODE_TYPE_MAX_LENGTH:
        raise UnknownCodeType(code_type)
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise _too_long("reference", MAX_REFERENCE_LENGTH)
    if len(key) > MAX_KEY_LENGTH:
        raise _too_long("idempotency_key", MAX_KEY_LENGTH)
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    return {"code_type": code_type, "reference": reference, "key": key, "actor": actor_id}


def _too_long(field: str, limit: int) -> PlatformError:
    message = f"{field} is longer than {limit} characters."
    return PlatformError(message, fields={field: [message]})


def _allocate(params: dict, *, retried: bool = False):
    """Run the statement (on its own outside a transaction, else in a savepoint); returns
    (Allocation, (low-water mark, no check needed) or None)."""
    columns = _code_columns()
    try:
        try:
            with _statement_transaction():
                row = _execute(allocate_statement(), params)
        except _NotPrepared:  # the connection lost it (DISCARD ALL): prepared anew
            with _statement_transaction():
                row = _execute(allocate_statement(), params)
    except DataError as exc:
        if CLAIM_LOST not in str(exc):
            raise
        if retried:
            raise AllocationInProgress(
                "Another request with the same key or reference is being allocated; retry."
            ) from None
        raise _ClaimLost() from None
    width = len(columns)
    picked, rest = row[:width], row[width:]
    _claim_lost, existing_id, existing_type, existing_ref, existing_key = rest[:5]
    type_slug, low_water_mark, already_low, plenty_left = rest[5:]
    if existing_id is not None:
        _check_same_request(params, existing_type, existing_ref, existing_key)
        return Allocation(code=Code.objects.get(pk=existing_id), created=False), None
    if picked[0] is None:
        if type_slug is None:
            raise UnknownCodeType(params["code_type"])
        raise PoolEmpty(params["code_type"])
    attnames = [field.attname for field in Code._meta.concrete_fields]
    code = Code.from_db(connection.alias, attnames, picked)
    return Allocation(code=code, created=True), (low_water_mark, already_low or plenty_left)


def _execute(statement: str, params: dict):
    """Run the allocation statement; its one row.

    Django's cursors bind parameters on the client and never prepare, so each call was
    parsed and planned anew. With CODES_ALLOCATION_PREPARED the statement is PREPAREd once
    per database connection (remembered with the connection) and EXECUTEd with the values.
    """
    with connection.cursor() as cursor:
        if not settings.CODES_ALLOCATION_PREPARED:
            cursor.execute(statement, params)
            return cursor.fetchone()
        raw = connection.connection
        name = f"codes_allocate_{zlib.crc32(statement.encode()):08x}"
        if name not in _PREPARED.get(raw, ()):
            cursor.execute(f"PREPARE {name} (text, text, text, bigint) AS {_numbered(statement)}")
            _PREPARED.setdefault(raw, set()).add(name)
        try:
            cursor.execute(
                f"EXECUTE {name} (%(code_type)s, %(reference)s, %(key)s, %(actor)s)", params
            )
        except ProgrammingError as exc:
            if isinstance(exc.__cause__, psycopg.errors.InvalidSqlStatementName):
                _PREPARED.pop(raw, None)
                raise _NotPrepared() from exc
            raise
        return cursor.fetchone()


def _numbered(statement: str) -> str:
    for number, name in enumerate(("code_type", "reference", "key", "actor"), start=1):
        statement = statement.replace(f"%({name})s", f"${number}")
    return statement


#: The statements prepared on each psycopg connection (by name).
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _statement_transaction():
    """Nothing when the connection autocommits (the statement is its own transaction, and
    fails whole when its claim lost); a savepoint inside a caller's transaction."""
    if connection.get_autocommit() and not connection.in_atomic_block:
        return contextlib.nullcontext()
    return transaction.atomic()


def _existing(params: dict) -> Allocation | None:
    """The committed allocation for the key or (type, reference) of `params`, if any."""
    query = CodeAllocation.objects.select_related("code")
    found = None
    if params["key"]:
        found = query.filter(idempotency_key=params["key"]).first()
    if found is None and params["reference"]:
        found = query.filter(code_type=params["code_type"], reference=params["reference"]).first()
    if found is None:
        return None
    _check_same_request(params, found.code_type, found.reference, found.idempotency_key)
    return Allocation(code=found.code, created=False)


def _check_same_request(params: dict, code_type: str, reference: str, key: str) -> None:
    """A key names one request: reusing it for another type or reference is a conflict."""
    same_key = bool(params["key"]) and key == params["key"]
    if same_key and (code_type != params["code_type"] or reference != params["reference"]):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for an allocation of type "
            f"'{code_type}' with reference '{reference}'; use a new key for a new request."
        )


def _check_pool_safely(code_type: str, low_water_mark: int) -> None:
    try:
        check_pool(code_type, low_water_mark=low_water_mark)
    except Exception:
        logger.exception("checking the pool of code type %s failed", code_type)
