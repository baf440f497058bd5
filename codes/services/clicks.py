"""Clicks on short links: made in the request, queued in Redis, written in batches.

In the request (a few microseconds): `click_payload` builds the click, with an id made
there, the time, the referrer, the raw user agent and a salted hash of the IP (never the
IP), and the visit script appends it to the Redis list `<LINK_REDIS_PREFIX>:clicks`.

The writer (`write_clicks`, the beat task `codes.tasks_links.write_clicks` every second):
holding a lock in Redis, it reads a batch from the head of the list, parses the user agents
(ua-parser: browser, OS, device; bots apart), and stores the batch with COPY into a staging
table and one INSERT ... ON CONFLICT DO NOTHING, which also adds the counts to the links,
in one transaction; only after that commit does it trim the batch off the list. A writer
that dies before trimming leaves the batch in place: the next one writes it again and the
click ids make that a no-op. Clicks survive a worker restart in Redis (as durable as the
Redis server is configured to be).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction

from codes.models import DeviceType, Link, LinkClick

from . import links_cache

logger = logging.getLogger(__name__)

MAX_REFERRER = 1000
MAX_USER_AGENT = 512


# --- in the request --------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _salt_key(salt: str, secret: str) -> bytes:
    return hashlib.sha256(f"link-visitors:{salt or secret}".encode()).digest()


def visitor_hash(ip: str, now: float) -> str:
    """HMAC-SHA256 of the IP with LINK_VISITOR_SALT (or one derived from SECRET_KEY), the UTC
    date mixed in unless LINK_VISITOR_SALT_ROTATION is "never": 32 hex characters."""
    key = _salt_key(settings.LINK_VISITOR_SALT, settings.SECRET_KEY)
    day = (
        ""
        if settings.LINK_VISITOR_SALT_ROTATION == "never"
        else time.strftime("%Y-%m-%d", time.gmtime(now))
    )
    return hmac.new(key, f"{day}|{ip}".encode(), hashlib.sha256).hexdigest()[:32]


def click_payload(short_id: str, *, ip: str, user_agent: str, referrer: str, now: float) -> str:
    """The queued form of one click (compact JSON)."""
    return json.dumps(
        {
            "i": uuid.uuid4().hex,
            "s": short_id.lower(),
            "t": round(now, 3),
            "r": referrer[:MAX_REFERRER],
            "u": user_agent[:MAX_USER_AGENT],
            "v": visitor_hash(ip or "", now),
        },
        separators=(",", ":"),
    )


# --- user agents -------------------------------------------------------------------------

# What ua-parser does not mark as a spider but is no person: tools, previews, monitors.
_BOT_RE = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|embedly|monitor|pingdom|"
    r"curl/|wget/|python-requests|python-httpx|aiohttp|go-http-client|okhttp|java/|"
    r"headlesschrome|phantomjs|lighthouse|scrapy|httpclient|libwww",
    re.IGNORECASE,
)
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD"}
)
_TABLET_RE = re.compile(r"ipad|tablet|kindle|silk|playbook|sm-t\d|nexus (7|9|10)", re.IGNORECASE)


@dataclass(frozen=True)
class Agent:
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    device_type: str
    is_bot: bool


@lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> Agent:
    """Browser, OS, device and device type of a user agent; bots flagged (ua-parser's
    "Spider" device, or a known tool / preview / monitor, or no user agent at all)."""
    from ua_parser import parse

    parsed = parse(user_agent) if user_agent else None
    browser = parsed.user_agent if parsed else None
    os_ = parsed.os if parsed else None
    device = parsed.device if parsed else None
    is_bot = (
        not user_agent
        or (device is not None and device.family == "Spider")
        or bool(_BOT_RE.search(user_agent))
    )
    os_family = os_.family if os_ else ""
    if is_bot:
        device_type = DeviceType.BOT
    elif _TABLET_RE.search(user_agent) or (os_family == "Android" and "Mobile" not in user_agent):
        device_type = DeviceType.TABLET
    elif os_family in ("iOS", "Android") or "Mobile" in user_agent:
        device_type = DeviceType.MOBILE
    elif os_family in _DESKTOP_OS:
        device_type = DeviceType.DESKTOP
    else:
        device_type = DeviceType.OTHER
    return Agent(
        browser=(browser.family if browser else "")[:100],
        browser_version=_version(browser)[:50],
        os=os_family[:100],
        os_version=_version(os_)[:50],
        device=(device.family if device else "")[:100],
        device_type=device_type,
        is_bot=is_bot,
    )


def _version(part) -> str:
    if part is None:
        return ""
    return ".".join(str(v) for v in (part.major, part.minor, part.patch) if v)


def referrer_host(referrer: str) -> str:
    try:
        return (urlsplit(referrer).hostname or "")[:255]
    except ValueError:
        return ""


# --- the writer --------------------------------------------------------------------------

# Trim the written batch, and extend the lock, only while the lock is still ours.
_TRIM_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"""
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
LOCK_MS = 60_000

_CLICK_COLUMNS = (
    "id",
    "link_id",
    "clicked_at",
    "referrer",
    "referrer_host",
    "user_agent",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device",
    "device_type",
    "is_bot",
    "visitor",
    "code_id",
)


@dataclass
class WriteSummary:
    written: int = 0  # new rows stored
    batches: int = 0
    skipped: int = 0  # unreadable entries, or clicks of links deleted meanwhile
    busy: bool = False  # another writer holds the lock


def write_clicks(*, max_seconds: float = 5.0, batch_size: int | None = None) -> WriteSummary:
    """Store queued clicks, batch after batch, until the queue is empty or `max_seconds`
    have passed (the next beat tick continues). One writer at a time (a lock in Redis)."""
    batch_size = batch_size or settings.LINK_CLICK_BATCH_SIZE
    summary = WriteSummary()
    redis_client = links_cache.client()
    token = uuid.uuid4().hex
    lock, queue = links_cache.writer_lock_key(), links_cache.clicks_key()
    if not redis_client.set(lock, token, nx=True, px=LOCK_MS):
        summary.busy = True
        return summary
    deadline = time.monotonic() + max_seconds
    try:
        while time.monotonic() < deadline:
            raw = redis_client.lrange(queue, 0, batch_size - 1)
            if not raw:
                break
            written, skipped = store_batch(raw)
            trimmed = redis_client.eval(_TRIM_SCRIPT, 2, lock, queue, token, len(raw), LOCK_MS)
            summary.written += written
            summary.skipped += skipped
            summary.batches += 1
            if not trimmed:
                logger.warning("click writer lost its lock; the next writer trims the batch")
                break
            if len(raw) < batch_size:
                break
    finally:
        redis_client.eval(_RELEASE_SCRIPT, 1, lock, token)
    return summary


def pending_clicks() -> int:
    """Clicks waiting in the queue."""
    return links_cache.client().llen(links_cache.clicks_key())


def store_batch(raw: list[bytes]) -> tuple[int, int]:
    """Write one batch of queued clicks; returns (new rows, skipped entries)."""
    clicks = [click for click in (_decode(item) for item in raw) if click is not None]
    links = _links_by_short_id({click["s"] for click in clicks})
    rows = []
    for click in clicks:
        link_id, code_id = links.get(click["s"], (None, None))
        if link_id is None:
            continue
        agent = parse_user_agent(click.get("u", ""))
        referrer = click.get("r", "")
        rows.append(
            (
                click["i"],
                link_id,
                datetime.fromtimestamp(click["t"], UTC),
                referrer,
                referrer_host(referrer),
                click.get("u", ""),
                agent.browser,
                agent.browser_version,
                agent.os,
                agent.os_version,
                agent.device,
                agent.device_type,
                agent.is_bot,
                click.get("v", ""),
                code_id,
            )
        )
    written = insert_clicks(rows) if rows else 0
    return written, len(raw) - len(rows)


def _decode(item: bytes) -> dict | None:
    try:
        click = json.loads(item)
        uuid.UUID(click["i"])
        float(click["t"])
        str(click["s"])
    except (ValueError, KeyError, TypeError):
        logger.warning("click queue: unreadable entry skipped: %.200r", item)
        return None
    return click


def _links_by_short_id(short_ids: set[str]) -> dict[str, tuple[int, object]]:
    """lower(short id) → (link id, id of the code it promotes or None)."""
    if not short_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lower(short_id), id, code_id FROM {Link._meta.db_table} "  # noqa: S608
            "WHERE lower(short_id) = ANY(%s)",
            [list(short_ids)],
        )
        return {short_id: (link_id, code_id) for short_id, link_id, code_id in cursor.fetchall()}


def insert_clicks(rows: list[tuple]) -> int:
    """COPY the rows into a staging table, then insert the new ones and add them to their
    links' counters in one statement; returns how many were new."""
    clicks_table, links_table = LinkClick._meta.db_table, Link._meta.db_table
    columns = ", ".join(_CLICK_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS click_staging "
            f"(LIKE {clicks_table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY click_staging ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"""
            WITH inserted AS (
                INSERT INTO {clicks_table} ({columns})
                SELECT {columns} FROM click_staging
                ON CONFLICT (id) DO NOTHING
                RETURNING link_id, is_bot, clicked_at
            ), counts AS (
                SELECT link_id, count(*) AS n, count(*) FILTER (WHERE is_bot) AS bots,
                       max(clicked_at) AS last_at
                FROM inserted GROUP BY link_id
            ), updated AS (
                UPDATE {links_table} AS link
                SET clicks = link.clicks + counts.n,
                    bot_clicks = link.bot_clicks + counts.bots,
                    last_clicked_at = GREATEST(link.last_clicked_at, counts.last_at)
                FROM counts WHERE link.id = counts.link_id
                RETURNING counts.n
            )
            SELECT coalesce(sum(n), 0) FROM updated
            """  # noqa: S608 - our tables
        )
        return int(cursor.fetchone()[0])


def record_click_now(click: str) -> int:
    """Store one click at once (Redis unreachable: the redirect must still count it)."""
    written, _ = store_batch([click.encode()])
    return written
