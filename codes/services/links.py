"""Short links: creation and validation, the destination with its UTM parameters, and the
redirect record cached in Redis that both redirect paths read.

A redirect is served in one Redis round trip: a Lua script reads the link's record and,
when the link may be followed, appends the click to the queue (codes.services.clicks) in
the same call. The record is `v1|<expiry epoch or 0>|<destination URL>`; only active links
have one (written after commit when a link is saved, removed when it is deactivated or
deleted, refilled from the database on a miss). See codes/README.md, "Short links".
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.encoding import iri_to_uri

from codes.exceptions import InvalidLink, LinkSlugTaken
from codes.models import Link

from . import links_cache

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
SHORT_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud safely
MAX_URL_LENGTH = 2000
_url_validator = URLValidator(schemes=["http", "https"])


# --- validation --------------------------------------------------------------------------


def validate_target_url(url: str, field: str = "url") -> str:
    """An absolute http(s) URL without credentials, at most 2000 characters.

    Refuses javascript:, data:, file: and every other scheme, user:password@ (phishing
    links look like https://bank.com@evil.example), control characters and spaces. No SSRF
    guard: the visitor's browser follows a redirect, not the platform.
    """
    url = (url or "").strip()
    if not url:
        raise InvalidLink(f"{field}: required.", fields={field: ["Required."]})
    if len(url) > MAX_URL_LENGTH:
        raise InvalidLink(
            f"{field}: at most {MAX_URL_LENGTH} characters.", fields={field: ["Too long."]}
        )
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise InvalidLink(
            f"{field}: spaces and control characters are not allowed.",
            fields={field: ["Spaces or control characters."]},
        )
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidLink(
            f"{field}: only http and https links are allowed.",
            fields={field: ["Only http:// and https:// URLs."]},
        )
    if "@" in parts.netloc:
        raise InvalidLink(
            f"{field}: URLs with a user name or password are not allowed.",
            fields={field: ["No credentials in the URL."]},
        )
    try:
        _url_validator(url)
    except ValidationError:
        raise InvalidLink(
            f"{field}: '{url}' is not a valid URL.", fields={field: ["Not a valid URL."]}
        ) from None
    return url


def validate_slug(slug: str) -> str:
    if not (3 <= len(slug) <= 64) or not all(
        char.isascii() and (char.isalnum() or char in "-_") for char in slug
    ):
        raise InvalidLink(
            "slug: 3 to 64 letters, digits, - or _.", fields={"slug": ["3-64 of A-Z a-z 0-9 - _."]}
        )
    if slug.lower() in RESERVED_SLUGS:
        raise InvalidLink(f"slug: '{slug}' is reserved.", fields={"slug": ["Reserved."]})
    return slug


RESERVED_SLUGS = frozenset({"redirect", "stats", "new", "admin", "api"})


# --- the destination ---------------------------------------------------------------------


def destination_url(link: Link) -> str:
    """The target URL with the link's UTM parameters merged into its query string: the
    existing parameters keep their order, a UTM parameter the target already has takes the
    link's value in its place (never a second copy), the fragment stays at the end."""
    parts = urlsplit(link.target_url)
    utm = {name: getattr(link, name) for name in UTM_FIELDS if getattr(link, name)}
    if not utm:
        return iri_to_uri(link.target_url)
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in utm:
            if utm[key] is not None:
                query.append((key, utm[key]))
                utm[key] = None  # placed; later copies of the same key are dropped
            continue
        query.append((key, value))
    query.extend((key, value) for key, value in utm.items() if value is not None)
    # ASCII, as a Location header must be (an IRI's non-ASCII characters percent-encoded).
    return iri_to_uri(urlunsplit(parts._replace(query=urlencode(query))))


def short_url(link: Link, request=None) -> str:
    path = f"/l/{link.short_id}"
    if settings.LINK_BASE_URL:
        return settings.LINK_BASE_URL + path
    return request.build_absolute_uri(path) if request is not None else path


# --- creating and changing links ---------------------------------------------------------


def create_link(*, url: str, slug: str = "", owner=None, expired_url: str = "", **fields) -> Link:
    """Create a link to `url` (validated) with an optional custom `slug` (409 when taken, in
    any case) or a generated short id; its record is cached after commit."""
    target = validate_target_url(url)
    if expired_url:
        expired_url = validate_target_url(expired_url, "expired_url")
    unknown = set(fields) - {*UTM_FIELDS, "title", "expires_at", "code"}
    if unknown:
        raise TypeError(f"create_link() got unexpected fields: {sorted(unknown)}")
    creator = owner if owner is not None and owner.is_authenticated else None
    for _ in range(5):
        short_id = validate_slug(slug) if slug else _generate_short_id()
        try:
            with transaction.atomic():
                link = Link.objects.create(
                    short_id=short_id,
                    target_url=target,
                    expired_url=expired_url,
                    created_by=creator,
                    **fields,
                )
        except IntegrityError:
            if slug or not Link.objects.filter(short_id__iexact=short_id).exists():
                if slug:
                    raise LinkSlugTaken(
                        f"The short id '{slug}' is taken.", fields={"slug": ["Taken."]}
                    ) from None
                raise
            continue  # a generated id collided: draw another
        refresh_after_commit(link)
        return link
    raise RuntimeError("Could not draw a free short id in 5 tries: raise LINK_SHORT_ID_LENGTH.")


def update_link(link: Link, **changes) -> Link:
    """Change a link's target, UTM, expiry or state; the cached record follows after commit."""
    if "url" in changes:
        changes["target_url"] = validate_target_url(changes.pop("url"))
    if changes.get("expired_url"):
        changes["expired_url"] = validate_target_url(changes["expired_url"], "expired_url")
    for name, value in changes.items():
        setattr(link, name, value)
    link.save()
    refresh_after_commit(link)
    return link


def delete_link(link: Link) -> None:
    short_id = link.short_id
    link.delete()
    transaction.on_commit(lambda: links_cache.forget(short_id), robust=True)


def cache_record(link: Link) -> None:
    links_cache.store(link.short_id, destination_url(link), link.expires_at)


def refresh_cached(link: Link) -> None:
    """The cached record as the link is now: stored if it is active, removed otherwise."""
    if link.is_active:
        cache_record(link)
    else:
        links_cache.forget(link.short_id)


def refresh_after_commit(link: Link) -> None:
    transaction.on_commit(lambda: refresh_cached(link), robust=True)


def _generate_short_id() -> str:
    return "".join(secrets.choice(SHORT_ID_ALPHABET) for _ in range(settings.LINK_SHORT_ID_LENGTH))


def promoted_code(text: str):
    """The code a link promotes, from its text in any case (None for ""); 400 if unknown."""
    from .codes import find_code

    if not text:
        return None
    code = find_code(text)
    if code is None:
        raise InvalidLink(f"code: there is no code '{text}'.", fields={"code": ["Unknown code."]})
    return code


def find_link(short_id: str) -> Link | None:
    """The link of that short id, in any case."""
    return (
        Link.objects.annotate(short_id_lower=Lower("short_id"))
        .filter(short_id_lower=short_id.lower())
        .first()
    )


# --- resolving a visit (the Django view's path; the ASGI fast path reads the cache only) ---


@dataclass(frozen=True)
class Resolution:
    """What a visit to a short link gets: `status` 302 (to `location`), 404 or 410."""

    status: int
    location: str = ""
    link: Link | None = None
    # True for a redirect to the link's destination: the visit counts as a click.
    followed: bool = False


def resolve_from_database(short_id: str, now: float | None = None) -> Resolution:
    """Look the link up in the database (a cache miss) and cache its record if it is active."""
    link = find_link(short_id)
    if link is None:
        return Resolution(404)
    if not link.is_active:
        return Resolution(410, link=link)
    if is_expired(link.expires_at, now):
        if link.expired_url:
            return Resolution(302, location=iri_to_uri(link.expired_url), link=link)
        return Resolution(410, link=link)
    cache_record(link)
    return Resolution(302, location=destination_url(link), link=link, followed=True)


def is_expired(expires_at: datetime | None, now: float | None = None) -> bool:
    return expires_at is not None and expires_at.timestamp() <= (now or time.time())
