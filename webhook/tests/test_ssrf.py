"""The SSRF guard: every resolved address is checked; loopback only when allowed."""

import ipaddress
import socket

import pytest

from webhook.services.ssrf import (
    HostResolutionError,
    UnsafeURLError,
    assert_public_url,
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


def test_public_ip_literal_is_accepted_and_returned():
    target = assert_public_url("https://93.184.216.34/hook?x=1", allowed_networks=[])
    assert target.addresses == (ipaddress.ip_address("93.184.216.34"),)
    assert target.port == 443


def test_every_address_is_checked_not_only_the_first(monkeypatch):
    fake_dns(monkeypatch, "93.184.216.34", "10.0.0.5")
    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.5"):
        assert_public_url("https://hooks.example.com/", allowed_networks=[])


def test_allow_list_admits_only_the_listed_networks():
    assert assert_public_url("http://127.0.0.1:9/", allowed_networks=["127.0.0.0/8"])
    with pytest.raises(UnsafeURLError):
        assert_public_url("http://10.0.0.1/", allowed_networks=["127.0.0.0/8"])


def test_allow_list_defaults_to_the_setting(settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(UnsafeURLError):
        assert_public_url("http://127.0.0.1/")
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    assert assert_public_url("http://127.0.0.1/").host == "127.0.0.1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.216.34/", "Only http, https"),
        ("file:///etc/passwd", "Only http, https"),
        ("http:///path", "no host"),
        ("https://user:pw@93.184.216.34/", "Credentials"),
        ("http://93.184.216.34:99999/", "not valid"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(UnsafeURLError, match=message):
        assert_public_url(url, allowed_networks=[])


def test_unresolvable_host_is_a_distinct_error(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(HostResolutionError, match="could not be resolved"):
        assert_public_url("https://gone.example.com/")


def test_mapped_and_6to4_forms_of_private_addresses_are_not_public():
    assert not is_public_address(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_public_address(ipaddress.ip_address("2002:7f00:1::"))  # 6to4 of 127.0.0.1
    assert not is_public_address(ipaddress.ip_address("224.0.0.1"))
    assert is_public_address(ipaddress.ip_address("2606:4700:4700::1111"))


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
