"""Codes generated from a pattern: `PROMO-####`, each `#` one character of a charset.

Codes are drawn at random without repetition (distinct positions in the space of all codes
the pattern can make). The draws come from a keyed generator (BLAKE2b of a counter under a
key derived from SECRET_KEY and the batch), so a re-run of the same batch draws the same
codes in the same order, while nobody without the key can predict them (discount codes are
worth guessing). A pattern that cannot yield as many distinct codes as asked for is refused
before any work starts.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from array import array
from collections.abc import Iterator

from ..exceptions import PatternTooSmall
from ..rules import CODE_MAX_LENGTH, CODE_RE

PLACEHOLDER = "#"
#: Spaces up to this size are shuffled; larger ones are sampled.
SHUFFLE_MAX = 8_000_000
DEFAULT_CHARSET = "0123456789"


def check_pattern(pattern: str, charset: str, count: int) -> None:
    """Refuse (400) a pattern or charset that cannot make `count` distinct valid codes."""
    problems = {}
    slots = pattern.count(PLACEHOLDER)
    if slots == 0:
        problems["pattern"] = [f"Put at least one {PLACEHOLDER} where a generated character goes."]
    elif len(pattern) > CODE_MAX_LENGTH:
        problems["pattern"] = [f"A code is at most {CODE_MAX_LENGTH} characters."]
    elif not CODE_RE.fullmatch(pattern.replace(PLACEHOLDER, "A")):
        problems["pattern"] = ["The fixed part may only hold letters, digits and - _ . + % @ ! :"]
    if not charset or not CODE_RE.fullmatch(charset) or PLACEHOLDER in charset:
        problems["charset"] = ["Give the characters a # may become (letters, digits, - _ .)."]
    elif len(set(charset)) != len(charset):
        problems["charset"] = ["Each character once."]
    elif len({char.lower() for char in charset}) != len(charset):
        problems["charset"] = [
            "Codes ignore letter case: a letter may not appear both in upper and lower case."
        ]
    if problems:
        raise PatternTooSmall("The pattern cannot generate codes.", fields=problems)
    capacity = len(charset) ** slots
    if count > capacity:
        message = (
            f"'{pattern}' with {len(charset)} characters per {PLACEHOLDER} yields at most "
            f"{capacity} distinct codes; {count} were asked for."
        )
        raise PatternTooSmall(message, fields={"count": [message]})


class KeyedRandom(random.Random):
    """A deterministic, unpredictable generator: BLAKE2b(key, counter) blocks of bits.

    `random.Random`'s methods (randint, randrange, ...) draw through `getrandbits`, so they
    all come from the keyed stream; Mersenne Twister's own state is never used.
    """

    def __init__(self, key: bytes):
        self._key = hashlib.blake2b(key, digest_size=32).digest()
        self._counter = 0
        super().__init__(0)

    def seed(self, *args, **kwargs):  # the keyed stream needs no seed
        return None

    def _block(self) -> int:
        self._counter += 1
        digest = hashlib.blake2b(
            self._counter.to_bytes(16, "big"), key=self._key, digest_size=64
        ).digest()
        return int.from_bytes(digest, "big")

    def getrandbits(self, k: int) -> int:
        value, bits = 0, 0
        while bits < k:
            value = (value << 512) | self._block()
            bits += 512
        return value >> (bits - k)

    def random(self) -> float:
        return self.getrandbits(53) / (1 << 53)


def batch_key(secret: str, batch_id: int) -> bytes:
    """The generator key of a batch: HMAC(SECRET_KEY, batch id)."""
    return hmac.new(secret.encode(), f"codes-pattern:{batch_id}".encode(), "sha256").digest()


def generate_codes(pattern: str, charset: str, *, key: bytes) -> Iterator[str]:
    """Distinct codes of `pattern`, in the random order `key` fixes, until exhausted."""
    slots = pattern.count(PLACEHOLDER)
    base = len(charset)
    capacity = base**slots
    pieces = pattern.split(PLACEHOLDER)
    rng = KeyedRandom(key)
    for index in _distinct_indices(rng, capacity):
        chars = []
        for _ in range(slots):
            index, digit = divmod(index, base)
            chars.append(charset[digit])
        out = [pieces[0]]
        for char, piece in zip(chars, pieces[1:], strict=True):
            out.append(char)
            out.append(piece)
        yield "".join(out)


def _distinct_indices(rng: random.Random, capacity: int) -> Iterator[int]:
    """Every integer of [0, capacity) at most once, in random order."""
    if capacity <= SHUFFLE_MAX:
        # Small spaces: an incremental Fisher-Yates shuffle (8 bytes per position), which
        # never slows down however much of the space is drawn.
        pool = array("q", range(capacity))
        for end in range(capacity - 1, -1, -1):
            pick = rng.randint(0, end)
            pool[pick], pool[end] = pool[end], pool[pick]
            yield pool[end]
        return
    # Large spaces: draw and reject repeats. A job draws at most CODES_BULK_MAX_ROWS codes,
    # under two thirds of such a space, so repeats stay rare.
    seen: set[int] = set()
    while len(seen) < capacity:
        index = rng.randrange(capacity)
        if index not in seen:
            seen.add(index)
            yield index
