"""The redirect records in Redis and the one-round-trip visit script.

Keys (all under LINK_REDIS_PREFIX, by default inside the cache's key prefix):
- `<prefix>:r:<short id in lower case>`: the record `v1|<expiry epoch or 0>|<destination>`
  of an active link;
- `<prefix>:clicks`: the queue of clicks waiting for the writer (codes.services.clicks).

`visit(short_id, click)` runs VISIT_SCRIPT: it returns the record, and appends `click` to
the queue in the same atomic call when the link is not expired. Both redirect paths (the
Django view and the ASGI fast path, codes.asgi_links) use it, the latter through redis'
asyncio client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger(__name__)

RECORD_VERSION = "v1"

# KEYS[1]: the record; KEYS[2]: the click queue. ARGV[1]: the click; ARGV[2]: now (epoch s).
# Returns the record (or nil); the click is queued only for a record that is not expired.
VISIT_SCRIPT = """
local record = redis.call('GET', KEYS[1])
if not record then return false end
local expires = tonumber(string.match(record, '^[^|]*|([^|]*)|'))
if expires ~= nil and (expires == 0 or expires > tonumber(ARGV[2])) then
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return record
"""


@dataclass(frozen=True)
class Record:
    location: str
    expires_at: float  # epoch seconds; 0: never

    def expired(self, now: float) -> bool:
        return self.expires_at != 0 and self.expires_at <= now


def record_key(short_id: str) -> str:
    return f"{settings.LINK_REDIS_PREFIX}:r:{short_id.lower()}"


def clicks_key() -> str:
    return f"{settings.LINK_REDIS_PREFIX}:clicks"


def writer_lock_key() -> str:
    return f"{settings.LINK_REDIS_PREFIX}:writer"


def encode_record(location: str, expires_at) -> str:
    expiry = f"{expires_at.timestamp():.3f}" if expires_at is not None else "0"
    return f"{RECORD_VERSION}|{expiry}|{location}"


def decode_record(raw: bytes | str | None) -> Record | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    version, _, rest = text.partition("|")
    expiry, _, location = rest.partition("|")
    if version != RECORD_VERSION or not location:
        return None
    return Record(location=location, expires_at=float(expiry or 0))


# --- clients ---------------------------------------------------------------------------------

_lock = threading.Lock()
_sync_clients: dict[str, redis.Redis] = {}
# One asyncio client per event loop (a connection belongs to the loop that opened it).
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _options() -> dict:
    options = {"socket_timeout": 2, "socket_connect_timeout": 2, "health_check_interval": 30}
    if settings.REDIS_USES_TLS:
        options["ssl_cert_reqs"] = settings.REDIS_SSL_CERT_REQS
    return options


def client() -> redis.Redis:
    url = settings.REDIS_URL
    with _lock:
        found = _sync_clients.get(url)
        if found is None:
            found = _sync_clients[url] = redis.Redis.from_url(url, **_options())
        return found


def async_client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None or found[0] != settings.REDIS_URL:
        found = (settings.REDIS_URL, aioredis.Redis.from_url(settings.REDIS_URL, **_options()))
        _async_clients[loop] = found
    return found[1]


_scripts: dict[int, object] = {}


def _script(redis_client):
    key = id(redis_client)
    script = _scripts.get(key)
    if script is None or script.registered_client is not redis_client:
        script = _scripts[key] = redis_client.register_script(VISIT_SCRIPT)
    return script


# --- visits ----------------------------------------------------------------------------------


def visit(short_id: str, click: str, now: float) -> Record | None:
    """The cached record of `short_id` (None: not cached), the click queued if it may be
    followed. Raises redis.RedisError when Redis cannot be reached."""
    raw = _script(client())(keys=[record_key(short_id), clicks_key()], args=[click, now])
    return decode_record(raw)


async def avisit(short_id: str, click: str, now: float) -> Record | None:
    """`visit` on the running event loop's asyncio client."""
    raw = await _script(async_client())(
        keys=[record_key(short_id), clicks_key()], args=[click, now]
    )
    return decode_record(raw)


def push_click(click: str) -> None:
    """Queue a click whose link was read from the database (a cache miss)."""
    client().rpush(clicks_key(), click)


# --- keeping the records current ---------------------------------------------------------


def store(short_id: str, location: str, expires_at) -> None:
    """Cache the record of an active link (the caller checked it is active). A Redis error is
    only logged: a later miss reads the database again."""
    try:
        client().set(
            record_key(short_id),
            encode_record(location, expires_at),
            ex=settings.LINK_CACHE_SECONDS,
        )
    except redis.RedisError as exc:
        logger.warning("link %s: record not cached (%s)", short_id, exc)


def forget(short_id: str) -> None:
    client().delete(record_key(short_id))
