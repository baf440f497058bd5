"""SSRF guard for outbound HTTP: refuse URLs that reach private, loopback or link-local hosts.

For any app that calls a URL a user typed (webhooks, imports from a URL, ...). The caller
passes its own allow-list (CIDR strings, usually from a setting); nothing is allowed by
default:

    target = assert_public_url(url, allowed_networks=my_setting)   # raises UnsafeURLError
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        client.request("POST", **pinned_request(target, target.addresses[0]))

Every address the host resolves to is checked, not just the first, because a client may
connect to any of them. Checking once (when a URL is saved) is not enough: DNS can change,
or answer differently the second time ("DNS rebinding"). So check right before the call and
then connect to the very address checked (`pinned_request`), keeping the original host in
the Host header and in TLS (SNI and certificate check). Proxies from the environment
(`trust_env`) would bypass the pin; redirects must not be followed blindly: follow them by
hand, checking each hop with `assert_public_url` again, or not at all.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from core.exceptions import HostResolutionError, UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}

# NAT64 (RFC 6052): on an IPv6-only network the gateway turns 64:ff9b::a.b.c.d into a.b.c.d,
# so such an address is judged by the IPv4 it carries. The local-use prefix (RFC 8215) can
# embed it anywhere: never public.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")


@dataclass(frozen=True)
class ResolvedURL:
    url: str
    scheme: str
    host: str  # as written in the URL (IDNA-encoded), without brackets
    port: int
    addresses: tuple[IPAddress, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse_networks(values: Iterable) -> list[IPNetwork]:
    """CIDR strings (or networks) as networks; raises ValueError on one that is not."""
    return [ipaddress.ip_network(str(value), strict=False) for value in values]


def invalid_networks(values: Iterable) -> list:
    """The entries of an allow-list setting that are not networks (for system checks)."""
    bad = []
    for value in values:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            bad.append(value)
    return bad


def allow_list_errors(setting: str, values: Iterable, check_id: str) -> list:
    """System-check errors, one per entry of the allow-list `setting` that is not a network:
    a mistyped entry must stop start-up, not fail every request that needs it later."""
    from django.core.checks import Error

    return [
        Error(
            f"{setting} holds '{value}', which is not a network.",
            hint="Use CIDR notation, e.g. 10.0.0.0/8 or fd00::/8.",
            id=check_id,
        )
        for value in invalid_networks(values)
    ]


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` is globally routable (not private, loopback, link-local, reserved,
    multicast, unspecified, shared/CGNAT, ...), judging IPv4-mapped, 6to4 and NAT64 addresses
    by the IPv4 address they carry. Teredo (2001::/32) is never public, whatever client it
    names."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None or address in NAT64_LOCAL_USE:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64_WELL_KNOWN:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    return address.is_global and not address.is_multicast


def _is_allowed(address: IPAddress, networks: list[IPNetwork]) -> bool:
    if is_public_address(address):
        return True
    return any(address.version == net.version and address in net for net in networks)


def assert_public_url(
    url: str,
    *,
    allowed_networks: Iterable = (),
    schemes: tuple[str, ...] = ("http", "https"),
) -> ResolvedURL:
    """Resolve `url`'s host and check every address it resolves to.

    Raises `UnsafeURLError` when the URL is malformed, uses another scheme, carries
    credentials, or any address is non-public and outside `allowed_networks` (CIDR strings
    or networks; none by default). Raises `HostResolutionError` (a subclass) when the host
    does not resolve. Returns the URL's parts and the checked addresses.
    """
    networks = parse_networks(allowed_networks)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"The URL is not valid: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise UnsafeURLError(f"Only {', '.join(schemes)} URLs are allowed.")
    if not parts.hostname:
        raise UnsafeURLError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        # They would be stored and shown with the URL (and logged); headers are their place.
        raise UnsafeURLError("Credentials in the URL are not allowed.")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeURLError("The URL's host name is not valid.") from None
    port = port or DEFAULT_PORTS.get(scheme, 0)

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise HostResolutionError(f"The host '{host}' could not be resolved.") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # IPv6 link-local results carry a zone ("fe80::1%eth0"); the zone does not matter here.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostResolutionError(f"The host '{host}' could not be resolved.")

    refused = [str(a) for a in addresses if not _is_allowed(a, networks)]
    if refused:
        raise UnsafeURLError(
            f"The host '{host}' resolves to a non-public address ({', '.join(refused)}); "
            "outbound calls to private, loopback or link-local addresses are not allowed."
        )
    return ResolvedURL(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def pinned_request(target: ResolvedURL, address: IPAddress) -> dict:
    """httpx request arguments that connect to `address` while addressing `target`'s host.

    The URL's host is replaced by the checked IP so no second DNS lookup happens; the Host
    header and the TLS server name (SNI, certificate check) keep the original host name.
    Returns {"url", "headers", "extensions"}; merge your own headers into "headers".
    """
    parts = urlsplit(target.url)
    ip_host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{ip_host}:{target.port}"
    url = urlunsplit((target.scheme, netloc, parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return {"url": url, "headers": {"Host": target.host_header}, "extensions": extensions}
