"""Fixtures of the webhook tests: a receiver, an unreachable URL, the job context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from routing_service.config import settings
from services.db import AsyncSessionMaker
from services.queue import QueueClient
from services.worker import outbound_http
from tests.fixtures.environment import RUN_REDIS_URL
from tests.fixtures.processes import free_port
from tests.routing_service.webhook.helpers import Receiver


@pytest.fixture(autouse=True)
def loopback_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers here listen on loopback: the development allowance, set explicitly (tests
    of the target guard turn it off)."""
    monkeypatch.setattr(settings, "webhook_allow_loopback", True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def down_url() -> str:
    """A loopback URL nothing listens on: connection refused."""
    return f"http://127.0.0.1:{free_port()}/hook"


@pytest.fixture
async def queue_client() -> AsyncIterator[QueueClient]:
    client = QueueClient(RUN_REDIS_URL)
    yield client
    await client.close()


@pytest.fixture
async def ctx(
    routing_sessionmaker: AsyncSessionMaker, queue_client: QueueClient
) -> AsyncIterator[dict[str, Any]]:
    """What the routing worker puts in arq's ``ctx``."""
    async with outbound_http() as http:
        yield {
            "sessionmaker": routing_sessionmaker,
            "http": http,
            "queue_client": queue_client,
            "job_try": 1,
        }
