"""Which address the per-IP limits count (services/ratelimit.py client_ip): the direct peer,
unless it is a trusted proxy; then the right-most X-Forwarded-For hop that is not one. Whatever a
client writes into the header never becomes the partition."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.requests import Request

from services.ratelimit import IPNetwork, client_ip, public_base_url
from services.settings import common_settings

PROXIES: list[IPNetwork] = [
    ipaddress.ip_network("10.0.0.0/24"),
    ipaddress.ip_network("fd00::/64"),
]
INGRESS = "10.0.0.5"
CLIENT = "203.0.113.7"


def request(peer: str | None, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers,
        "client": (peer, 1234) if peer is not None else None,
    }
    return Request(scope)


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_sends() -> None:
    assert client_ip(request(CLIENT, "198.51.100.1"), trusted=[]) == CLIENT
    assert client_ip(request(INGRESS, "198.51.100.1"), trusted=[]) == INGRESS


def test_an_untrusted_peer_cannot_claim_another_address() -> None:
    for forged in ("198.51.100.1", f"198.51.100.1, {INGRESS}", "10.0.0.9", "garbage"):
        assert client_ip(request(CLIENT, forged), trusted=PROXIES) == CLIENT


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        # The ingress appended the peer it saw.
        ((CLIENT,), CLIENT),
        # The client's own header comes first; the ingress appended the real peer after it.
        ((f"198.51.100.1, {CLIENT}",), CLIENT),
        # A forged trusted-looking hop to the left changes nothing either.
        ((f"10.0.0.9, {CLIENT}",), CLIENT),
        # Two proxies of ours: skip both, the first untrusted hop from the right is the client.
        ((f"198.51.100.1, {CLIENT}, 10.0.0.7",), CLIENT),
        # Split over several header lines: one list in order (RFC 9110 section 5.3).
        (("198.51.100.1", f"{CLIENT}, 10.0.0.7"), CLIENT),
        # Ports and brackets as some proxies write them, spaces around entries.
        ((f"  {CLIENT}:51234 ",), CLIENT),
        (("[2001:db8::7]:443",), "2001:db8::7"),
        (("2001:db8::7",), "2001:db8::7"),
        # An IPv4 client written as IPv6-mapped counts as the IPv4 address.
        (("::ffff:203.0.113.7",), CLIENT),
    ],
)
def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_counts(
    forwarded: tuple[str, ...], expected: str
) -> None:
    assert client_ip(request(INGRESS, *forwarded), trusted=PROXIES) == expected


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        # Malformed right next to the ingress: the ingress itself is counted, never the string.
        (("unknown",), INGRESS),
        (("203.0.113.7.evil",), INGRESS),
        ((f"{CLIENT}, ",), INGRESS),
        (("[2001:db8::7",), INGRESS),
        (("1.2.3.4:http",), INGRESS),
        # Malformed behind a second proxy of ours: that proxy is the last trusted hop.
        ((f"{CLIENT}, _hidden, 10.0.0.7",), "10.0.0.7"),
    ],
)
def test_a_malformed_hop_stops_at_the_last_trusted_one(
    forwarded: tuple[str, ...], expected: str
) -> None:
    assert client_ip(request(INGRESS, *forwarded), trusted=PROXIES) == expected


def test_only_trusted_hops_or_no_header_count_the_nearest_proxy() -> None:
    assert client_ip(request(INGRESS), trusted=PROXIES) == INGRESS
    assert client_ip(request(INGRESS, "10.0.0.8, 10.0.0.7"), trusted=PROXIES) == "10.0.0.8"


def test_ipv6_proxies_and_a_mapped_peer() -> None:
    assert client_ip(request("fd00::2", CLIENT), trusted=PROXIES) == CLIENT
    # A dual-stack listener reports an IPv4 proxy as ::ffff:10.0.0.5.
    assert client_ip(request("::ffff:10.0.0.5", CLIENT), trusted=PROXIES) == CLIENT


def test_a_peer_without_an_address() -> None:
    assert client_ip(request(None, CLIENT), trusted=PROXIES) == "unknown"
    # A Unix socket or test client name: not a proxy, and nothing forwarded is believed.
    assert client_ip(request("testclient", CLIENT), trusted=PROXIES) == "testclient"


def test_the_setting_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", '["10.0.0.0/24"]')
    common_settings.cache_clear()
    try:
        assert client_ip(request(INGRESS, CLIENT)) == CLIENT
    finally:
        monkeypatch.delenv("TRUSTED_PROXIES")
        common_settings.cache_clear()
    assert client_ip(request(INGRESS, CLIENT)) == INGRESS  # empty by default: trust nobody


def published(peer: str, headers: dict[str, str]) -> str:
    scope = {
        "type": "http",
        "scheme": "http",
        "method": "GET",
        "path": "/open311/discovery.json",
        "server": ("intake", 8001),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"intake:8001")],
        "client": (peer, 1234),
    }
    return public_base_url(Request(scope), trusted=PROXIES)


def test_only_a_trusted_proxy_rewrites_the_published_url() -> None:
    tls = {"x-forwarded-proto": "https", "x-forwarded-host": "12345.example.gov.cn"}
    assert published(INGRESS, tls) == "https://12345.example.gov.cn"
    assert published(CLIENT, tls) == "http://intake:8001"
    # A proto the proxy did not mean, or a host with a path or spaces in it, is not believed.
    odd = {"x-forwarded-proto": "gopher", "x-forwarded-host": "evil.example/path"}
    assert published(INGRESS, odd) == "http://intake:8001"
