"""The tracking lockout holds whatever X-Forwarded-For a client sends (issue 20): on the dev stack
a forged header once turned the 429 back into 200. The peer address is simulated with the ASGI
transport, directly and as a trusted ingress that appends the peer it saw."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI

from intake_service.config import settings
from services.settings import common_settings
from tests.intake_service.issue.test_endpoints import submit

INGRESS = "10.0.0.5"
MISSES = 3

Peer = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def app(test_database: str) -> AsyncIterator[FastAPI]:
    from intake_service.app import app

    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def peer(app: FastAPI) -> AsyncIterator[Peer]:
    """A client whose requests arrive from the given socket address."""
    async with AsyncExitStack() as stack:

        def connect(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(
                app=app, raise_app_exceptions=False, client=(address, 40000)
            )
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            stack.push_async_callback(client.aclose)
            return client

        yield connect


@pytest.fixture(autouse=True)
def lockout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "rate_track_failures_per_ip", MISSES)
    monkeypatch.setattr(common_settings(), "trusted_proxies", [ipaddress.ip_network("10.0.0.0/24")])


async def receipt(peer: Peer, channel_key: str) -> tuple[str, dict[str, str]]:
    """A real request's tracking URL and its owner's proof (right after the lockout, the right
    secret still gets 429: what a bypass would turn into 200)."""
    response = await submit(peer("192.0.2.10"), channel_key)
    assert response.status_code == 201, response.text
    body = response.json()
    return f"/v1/requests/{body['tracking_no']}", {"X-Tracking-Secret": body["tracking_secret"]}


async def lock_out(client: httpx.AsyncClient, url: str, **headers: str) -> None:
    for _ in range(MISSES):
        miss = await client.get(url, headers={"X-Tracking-Secret": "wrong", **headers})
        assert miss.status_code == 404, miss.text
    blocked = await client.get(url, headers={"X-Tracking-Secret": "wrong", **headers})
    assert blocked.status_code == 429, blocked.text


async def test_a_direct_client_stays_locked_out_whatever_it_forwards(
    peer: Peer, channel_key: str
) -> None:
    url, owner = await receipt(peer, channel_key)
    client = peer("203.0.113.7")
    await lock_out(client, url)
    for forged in ("198.51.100.1", "10.0.0.9", f"198.51.100.1, {INGRESS}", "unknown"):
        answer = await client.get(url, headers={**owner, "X-Forwarded-For": forged})
        assert answer.status_code == 429, (forged, answer.text)
        assert answer.json()["error"]["code"] == "rate_limited"
    # The lockout is per client: another address still reads its request.
    assert (await peer("203.0.113.8").get(url, headers=owner)).status_code == 200


async def test_a_client_behind_the_trusted_ingress_stays_locked_out(
    peer: Peer, channel_key: str
) -> None:
    url, owner = await receipt(peer, channel_key)
    ingress = peer(INGRESS)
    # The ingress appends the peer it saw to whatever the client sent.
    await lock_out(ingress, url, **{"X-Forwarded-For": "203.0.113.7"})
    for forged in ("198.51.100.1", "10.0.0.9", "203.0.113.8", "garbage"):
        chain = f"{forged}, 203.0.113.7"
        answer = await ingress.get(url, headers={**owner, "X-Forwarded-For": chain})
        assert answer.status_code == 429, (chain, answer.text)
    # Through a second proxy of ours as well.
    chain = "198.51.100.1, 203.0.113.7, 10.0.0.6"
    answer = await ingress.get(url, headers={**owner, "X-Forwarded-For": chain})
    assert answer.status_code == 429, answer.text


async def test_clients_behind_the_ingress_are_counted_separately(
    peer: Peer, channel_key: str
) -> None:
    url, owner = await receipt(peer, channel_key)
    ingress = peer(INGRESS)
    await lock_out(ingress, url, **{"X-Forwarded-For": "203.0.113.7"})
    other = await ingress.get(url, headers={**owner, "X-Forwarded-For": "203.0.113.8"})
    assert other.status_code == 200, other.text
    # The ingress's own address is a partition of its own too (nothing forwarded), not the
    # locked-out client's.
    assert (await ingress.get(url, headers=owner)).status_code == 200
    # And an untrusted peer's forged header is not the way to reach the locked-out partition.
    spoofer = peer("198.51.100.1")
    assert (
        await spoofer.get(url, headers={**owner, "X-Forwarded-For": "203.0.113.7"})
    ).status_code == 200


async def test_without_trusted_proxies_the_ingress_is_one_client(
    peer: Peer, channel_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default (trust nobody) never believes the header: behind an unconfigured ingress
    every client shares the ingress's budget, which fails closed rather than open."""
    monkeypatch.setattr(common_settings(), "trusted_proxies", [])
    url, owner = await receipt(peer, channel_key)
    ingress = peer(INGRESS)
    await lock_out(ingress, url, **{"X-Forwarded-For": "203.0.113.7"})
    other = await ingress.get(url, headers={**owner, "X-Forwarded-For": "203.0.113.8"})
    assert other.status_code == 429, other.text
