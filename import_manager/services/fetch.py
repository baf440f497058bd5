"""Downloading a feed URL for an import, guarded against SSRF.

- Only http(s). The host is resolved first and refused when any of its addresses is not a
  public one (private, loopback, link-local, multicast, reserved...), unless
  IMPORT_URL_ALLOW_PRIVATE is on (tests use a server on 127.0.0.1).
- The connection goes to the address that was checked (the Host header and TLS SNI keep the
  name), so a DNS answer that changes between check and connect cannot redirect it.
- Redirects are followed by hand, each hop checked the same way, at most
  IMPORT_URL_MAX_REDIRECTS.
- The body streams to a file under DATA_DIR/downloads, at most IMPORT_MAX_UPLOAD_BYTES, and
  the whole download has IMPORT_URL_TIMEOUT seconds. Proxies from the environment are
  ignored (they would bypass the address check).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin

import httpx
from django.conf import settings

from core.exceptions import PlatformError

from .columns import ImportFileError
from .parsers import format_for_name
from .uploads import content_matches, sanitize_filename

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


class FeedRefused(PlatformError):
    code = "url_refused"


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


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = (
            address.ipv4_mapped
            or address.sixtofour
            or (address.teredo[1] if address.teredo else None)
        )
        if embedded is not None:
            return _is_public(embedded)
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        return [literal]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FeedRefused(f"Cannot resolve the host '{host}'.") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def check_url(url: str):
    """Validate `url` and return (parsed URL, the address to connect to).

    Raises FeedRefused for a non-http(s) URL, an unresolvable host, or a host with any
    non-public address (unless IMPORT_URL_ALLOW_PRIVATE).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FeedRefused(f"Not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FeedRefused("Only http:// and https:// URLs with a host can be imported.")
    if parsed.userinfo:
        raise FeedRefused("URLs with credentials are not accepted.")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = _resolve(parsed.host, port)
    if not addresses:
        raise FeedRefused(f"The host '{parsed.host}' has no address.")
    if not settings.IMPORT_URL_ALLOW_PRIVATE:
        refused = [str(a) for a in addresses if not _is_public(a)]
        if refused:
            raise FeedRefused(
                f"The host '{parsed.host}' resolves to a non-public address "
                f"({', '.join(refused)}); imports may only fetch from public addresses."
            )
    return parsed, addresses[0]


def _pinned_request(client: httpx.Client, parsed: httpx.URL, address):
    """A GET to the checked address, keeping the host name for Host and TLS SNI."""
    target = parsed.copy_with(host=str(address))
    headers = {"Host": parsed.netloc.decode("ascii"), "Accept": "*/*"}
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    request = client.build_request("GET", target, headers=headers, extensions=extensions)
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
            parsed, address = check_url(current)
            try:
                response = _pinned_request(client, parsed, address)
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
