"""Channel notifications cross two services: intake (the channel's API) calls the real routing
app over an ASGI transport, and routing's delivery job sends to a real receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from intake_service.models import ApiKey
from services.db import AsyncSessionMaker
from services.queue import QueueClient
from services.worker import outbound_http
from tests.fixtures.clients import make_key, to_apps
from tests.fixtures.environment import RUN_REDIS_URL
from tests.routing_service.webhook.helpers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def ctx(routing_sessionmaker: AsyncSessionMaker) -> AsyncIterator[dict[str, Any]]:
    """What the routing worker puts in arq's ``ctx``."""
    queue_client = QueueClient(RUN_REDIS_URL)
    async with outbound_http() as http:
        yield {
            "sessionmaker": routing_sessionmaker,
            "http": http,
            "queue_client": queue_client,
            "job_try": 1,
        }
    await queue_client.close()


@pytest.fixture
async def intake(
    intake_client: httpx.AsyncClient, routing_client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The intake API, whose calls to routing (and scoring) reach the real apps."""
    from intake_service.app import app as intake_app
    from routing_service.app import app as routing_app
    from scoring_service.app import app as scoring_app

    saved = intake_app.state.http
    intake_app.state.http = to_apps(routing=routing_app, scoring=scoring_app)
    try:
        yield intake_client
    finally:
        await intake_app.state.http.aclose()
        intake_app.state.http = saved


@pytest.fixture
async def app_key(intake_sessionmaker: AsyncSessionMaker) -> str:
    return await make_key(intake_sessionmaker, ApiKey, "app")


@pytest.fixture
async def hotline_key(intake_sessionmaker: AsyncSessionMaker) -> str:
    return await make_key(intake_sessionmaker, ApiKey, "hotline")
