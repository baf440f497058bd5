"""Downloading a feed URL for an import, guarded against SSRF (core.services.ssrf).

- Only http(s). The host is resolved first and refused when any of its addresses is not a
  public one (private, loopback, link-local, multicast, reserved...) and not inside
  IMPORT_URL_ALLOWED_PRIVATE_NETWORKS (CIDRs). IMPORT_URL_ALLOW_PRIVATE (older, all or
  nothing) still admits every address when on; tests use a server on 127.0.0.1.
- The connection goes to the address that was checked (the Host header and TLS SNI keep the
  name), so a DNS answer that changes between check and connect cannot redirect it.
- Redirects are followed by hand, each hop checked the same way, at most
  IMPORT_URL_MAX_REDIRECTS.
- The body streams to a file under DATA_DIR/downloads, at most IMPORT_MAX_UPLOAD_BYTES, and
  the whole download has IMPORT_URL_TIMEOUT seconds. Proxies from the environment are
  ignored (they would bypass the address check).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin

import httpx
from django.conf import settings

from core.services import ssrf
from import_manager.exceptions import FeedRefused

from .columns import ImportFileError
from .parsers import format_for_name
from .uploads import content_matches, sanitize_filename

#: What IMPORT_URL_ALLOW_PRIVATE = True has always meant: no address is refused.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")

CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/plain": "csv",
    "application/json": "json",
    "application/x-ndjson": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


@dataclass
class FetchedFile:
    path: Path
    filename: str
    file_format: str
    size: int


def filename_for_url(url: str) -> str:
    """A safe local file name taken from the URL's last path segment."""
    try:
        segment = unquote(httpx.URL(url).path.rsplit("/", 1)[-1])
    except httpx.InvalidURL:
        segment = ""
    return sanitize_filename(segment, default="feed")


def allowed_private_networks() -> tuple[str, ...]:
    """The non-public networks feeds may come from (settings are read on every call)."""
    configured = tuple(settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS)
    # The switch opens loopback only (a local test server), never e.g. 169.254.169.254.
    return configured + LOOPBACK_NETWORKS if settings.IMPORT_URL_ALLOW_PRIVATE else configured


def check_url(url: str) -> ssrf.ResolvedURL:
    """Validate `url` and return it resolved (connect to one of `.addresses`).

    Raises FeedRefused for a non-http(s) URL, credentials in it, an unresolvable host, or a
    host with any non-public address outside the allowed networks.
    """
    try:
        return ssrf.assert_public_url(url, allowed_networks=allowed_private_networks())
    except ssrf.UnsafeURLError as exc:
        raise FeedRefused(exc.message) from None


def _pinned_request(client: httpx.Client, target: ssrf.ResolvedURL):
    """A GET to the first checked address, keeping the host name for Host and TLS SNI."""
    pinned = ssrf.pinned_request(target, target.addresses[0])
    request = client.build_request(
        "GET",
        pinned["url"],
        headers={**pinned["headers"], "Accept": "*/*"},
        extensions=pinned["extensions"],
    )
    return client.send(request, stream=True)


def download_feed(url: str, target_dir: Path, *, file_format: str | None = None) -> FetchedFile:
    """Download `url` into `target_dir` (created) and return the stored file.

    Raises FeedRefused (address, redirects, size, time, HTTP status) or ImportFileError when
    the format cannot be told or the content does not match it.
    """
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    timeout = settings.IMPORT_URL_TIMEOUT
    deadline = time.monotonic() + timeout
    current = url
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    with httpx.Client(
        timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
    ) as client:
        for _hop in range(settings.IMPORT_URL_MAX_REDIRECTS + 1):
            target = check_url(current)
            try:
                response = _pinned_request(client, target)
            except httpx.HTTPError as exc:
                raise FeedRefused(f"Could not fetch {current}: {exc}") from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise FeedRefused(f"The feed answered HTTP {response.status_code}.")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise FeedRefused(f"The feed is larger than the allowed {limit} bytes.")
                fmt = (
                    file_format
                    or format_for_name(filename_for_url(current))
                    or CONTENT_TYPES.get(
                        response.headers.get("content-type", "").split(";")[0].strip().lower()
                    )
                )
                if fmt is None:
                    raise ImportFileError(
                        "Cannot tell the feed's format from its URL or Content-Type; "
                        "pass format (csv, xlsx, json or xml)."
                    )
                name = filename_for_url(current)
                if format_for_name(name) != fmt:
                    name = f"{name}.{fmt}"
                path = target_dir / name
                size = _stream_to(response, path, limit, deadline)
            finally:
                response.close()
            with path.open("rb") as handle:
                if not content_matches(fmt, handle.read(4096)):
                    raise ImportFileError(f"The feed's content does not look like {fmt.upper()}.")
            return FetchedFile(path=path, filename=name, file_format=fmt, size=size)
    raise FeedRefused(f"Too many redirects (more than {settings.IMPORT_URL_MAX_REDIRECTS}).")


def _stream_to(response: httpx.Response, path: Path, limit: int, deadline: float) -> int:
    size = 0
    try:
        with path.open("wb") as handle:
            for chunk in response.iter_bytes(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FeedRefused(f"The feed is larger than the allowed {limit} bytes.")
                if time.monotonic() > deadline:
                    raise FeedRefused("The feed took too long to download.")
                handle.write(chunk)
    except httpx.HTTPError as exc:
        path.unlink(missing_ok=True)
        raise FeedRefused(f"The download failed: {exc}") from exc
    except FeedRefused:
        path.unlink(missing_ok=True)
        raise
    return size
