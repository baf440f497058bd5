"""The SSRF guard: every resolved address is checked; non-public ones only when allowed."""

import ipaddress
import socket

import pytest

from core.services.ssrf import (
    HostResolutionError,
    UnsafeURLError,
    assert_public_url,
    invalid_networks,
    is_public_address,
    pinned_request,
)


def fake_dns(monkeypatch, *addresses):
    """Make every name resolve to `addresses` (no real DNS is ever asked in tests)."""

    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port),
            )
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.8.9.10:8080/x",
        "http://localhost/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
    ],
)
def test_non_public_targets_are_refused_without_an_allow_list(url):
    with pytest.raises(UnsafeURLError) as excinfo:
        assert_public_url(url, allowed_networks=[])
    assert "private, loopback or link-local" in excinfo.value.message
    assert "non-public address" in excinfo.value.message


def test_nothing_non_public_is_allowed_by_default():
    with pytest.raises(UnsafeURLError):
        assert_public_url("http://127.0.0.1/")


def test_public_ip_literal_is_accepted_and_returned():
    target = assert_public_url("https://93.184.216.34/hook?x=1", allowed_networks=[])
    assert target.addresses == (ipaddress.ip_address("93.184.216.34"),)
    assert target.port == 443


def test_every_address_is_checked_not_only_the_first(monkeypatch):
    fake_dns(monkeypatch, "93.184.216.34", "10.0.0.5")
    with pytest.raises(UnsafeURLError, match=r"non-public address \(10\.0\.0\.5\)"):
        assert_public_url("https://hooks.example.com/", allowed_networks=[])


def test_allow_list_admits_only_the_listed_networks():
    assert assert_public_url("http://127.0.0.1:9/", allowed_networks=["127.0.0.0/8"])
    assert assert_public_url("http://[::1]/", allowed_networks=["::1/128"])
    with pytest.raises(UnsafeURLError):
        assert_public_url("http://10.0.0.1/", allowed_networks=["127.0.0.0/8"])
    with pytest.raises(UnsafeURLError):  # an IPv4 network does not admit IPv6 addresses
        assert_public_url("http://[::1]/", allowed_networks=["0.0.0.0/0"])


def test_a_malformed_allow_list_entry_is_an_error_not_a_pass():
    assert invalid_networks(["127.0.0.0/8", "10.0.0.0/33", "::1", "nope"]) == [
        "10.0.0.0/33",
        "nope",
    ]
    with pytest.raises(ValueError):
        assert_public_url("http://127.0.0.1/", allowed_networks=["127.0.0.0/33"])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.216.34/", "Only http, https"),
        ("file:///etc/passwd", "Only http, https"),
        ("http:///path", "no host"),
        ("https://user:pw@93.184.216.34/", "Credentials"),
        ("http://user@93.184.216.34/", "Credentials"),
        ("http://93.184.216.34:99999/", "not valid"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(UnsafeURLError, match=message):
        assert_public_url(url, allowed_networks=[])


def test_other_schemes_can_be_asked_for():
    with pytest.raises(UnsafeURLError, match="Only https URLs"):
        assert_public_url("http://93.184.216.34/", schemes=("https",))


def test_unresolvable_host_is_a_distinct_error(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(HostResolutionError, match="could not be resolved"):
        assert_public_url("https://gone.example.com/")


def test_mapped_6to4_and_teredo_forms_of_private_addresses_are_not_public():
    assert not is_public_address(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_public_address(ipaddress.ip_address("2002:7f00:1::"))  # 6to4 of 127.0.0.1
    # Teredo whose (obfuscated) client address is 10.0.0.1, and one with a public client.
    assert not is_public_address(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:f5ff:fffe"))
    assert not is_public_address(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:f7f7:f7f7"))
    assert not is_public_address(ipaddress.ip_address("224.0.0.1"))
    assert not is_public_address(ipaddress.ip_address("100.64.0.1"))  # shared (CGNAT)
    assert is_public_address(ipaddress.ip_address("::ffff:93.184.216.34"))
    assert is_public_address(ipaddress.ip_address("2002:5db8:d822::1"))  # 6to4 of a public one
    assert is_public_address(ipaddress.ip_address("2606:4700:4700::1111"))


def test_nat64_forms_are_judged_by_the_ipv4_address_they_carry():
    assert not is_public_address(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))  # 169.254.169.254
    assert not is_public_address(ipaddress.ip_address("64:ff9b::7f00:1"))  # 127.0.0.1
    assert not is_public_address(ipaddress.ip_address("64:ff9b:1::a00:1"))  # local-use prefix
    assert is_public_address(ipaddress.ip_address("64:ff9b::5db8:d822"))  # 93.184.216.34
    with pytest.raises(UnsafeURLError, match="non-public"):
        assert_public_url("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/")


def test_pinned_request_connects_to_the_checked_ip_but_keeps_the_host_name(monkeypatch):
    fake_dns(monkeypatch, "93.184.216.34")
    target = assert_public_url("https://hooks.example.com/in?a=1", allowed_networks=[])
    request = pinned_request(target, target.addresses[0])
    assert request["url"] == "https://93.184.216.34:443/in?a=1"
    assert request["headers"] == {"Host": "hooks.example.com"}
    assert request["extensions"] == {"sni_hostname": "hooks.example.com"}

    fake_dns(monkeypatch, "2606:4700:4700::1111")
    target = assert_public_url("http://hooks.example.com:8080/", allowed_networks=[])
    request = pinned_request(target, target.addresses[0])
    assert request["url"] == "http://[2606:4700:4700::1111]:8080/"
    assert request["headers"] == {"Host": "hooks.example.com:8080"}
    assert request["extensions"] == {}
