"""Time-ordered UUIDs (version 7, RFC 9562) for codes.

A million random (v4) primary keys land all over the index: the load that inserts them
measured 2-3x slower than with keys that grow with time, which keep each insert on the
index's rightmost pages. `UUID7_SQL` is the same in SQL (PostgreSQL 15 has no uuidv7()), for
set-based inserts.
"""

from __future__ import annotations

import os
import time
import uuid

_RAND_A_BITS = 12
_RAND_B_BITS = 62


def uuid7() -> uuid.UUID:
    """A version 7 UUID: 48 bits of Unix milliseconds, then random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = (rand >> _RAND_B_BITS) & ((1 << _RAND_A_BITS) - 1)
    rand_b = rand & ((1 << _RAND_B_BITS) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


#: One new version 7 UUID per row: a random (v4) UUID whose first 48 bits become the clock's
#: milliseconds and whose version nibble becomes 7 (bits 52 and 53 of the v4's 0100).
UUID7_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
    "substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) "
    "FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"
)


def uuid7_run_sql(counter: str) -> tuple[str, dict]:
    """SQL for version 7 UUIDs of one set-based insert, ordered by the integer `counter`
    (an expression: the staging table's row number), and its parameters.

    `UUID7_SQL` costs a `gen_random_uuid()` (a system random call) and a clock read per row,
    ~3 s per million rows. Here the first 64 bits (this millisecond, version 7, 12 random
    bits) are drawn once, in Python, and the last 64 are the variant, the counter (40 bits)
    and 22 bits of `random()`: RFC 9562's "fixed bit-length dedicated counter" (method 1).
    The ids of one run increase with the counter (row order is id order, exactly) and sort
    after every id made before the statement started. The counter must be below 2**40.
    """
    head = uuid7().bytes[:8]
    sql = (
        "encode(%(uuid7_head)s::bytea || int8send(-9223372036854775808 "
        f"+ (({counter})::bigint << 22) + floor(random() * 4194304)::bigint), 'hex')::uuid"
    )
    return sql, {"uuid7_head": head}
