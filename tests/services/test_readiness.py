"""``/readyz`` and ``/healthz`` through a service app: both dependencies checked within their
bounds, a typed report naming what failed, 503 only when a required dependency (the database)
fails, and ``yingshang_dependency_up`` agreeing with it (alert YingshangRedisUnreachable)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from services.app import READINESS_REQUIRES
from services.queue import QueueClient
from shared.schemas.ops import Liveness, Readiness
from tests.fixtures.clients import _client_for
from tests.fixtures.processes import free_port


@pytest.fixture
def app() -> FastAPI:
    from scoring_service.app import create_app

    return create_app()


@pytest.fixture
async def client(app: FastAPI, test_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client_for(app):
        yield client


@pytest.fixture
def closed_port() -> int:
    # Nothing listens there: connections are refused at once, as with a stopped server.
    return free_port()


def dependency_up(text: str) -> dict[str, float]:
    values = {}
    for family in text_string_to_metric_families(text):
        if family.name == "yingshang_dependency_up":
            for sample in family.samples:
                if sample.labels["service"] == "scoring":
                    values[sample.labels["dependency"]] = sample.value
    return values


async def test_healthz_is_typed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert Liveness.model_validate(response.json()) == Liveness(status="ok", service="scoring")


async def test_ready_with_both_dependencies_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    report = Readiness.model_validate(response.json())
    assert report.status == "ok"
    assert report.failed == []
    assert report.checks.database.status == report.checks.redis.status == "ok"
    assert report.checks.database.required
    metrics = await client.get("/metrics")
    assert dependency_up(metrics.text) == {"database": 1.0, "redis": 1.0}


async def test_redis_unreachable_is_reported_but_leaves_the_api_ready(
    app: FastAPI, client: httpx.AsyncClient, closed_port: int
) -> None:
    healthy = app.state.queue
    app.state.queue = QueueClient(f"redis://127.0.0.1:{closed_port}/0")
    try:
        started = time.monotonic()
        response = await client.get("/readyz")
        elapsed = time.monotonic() - started
        metrics = await client.get("/metrics")
    finally:
        await app.state.queue.close()
        app.state.queue = healthy
    assert "redis" not in READINESS_REQUIRES
    # Redis down: the outbox keeps what the API accepts, so it stays in the Service, degraded.
    assert response.status_code == 200, response.text
    report = Readiness.model_validate(response.json())
    assert report.status == "degraded"
    assert report.failed == ["redis"]
    assert report.checks.redis.status == "error"
    assert report.checks.redis.error
    assert not report.checks.redis.required
    assert report.checks.database.status == "ok"
    assert elapsed < 3  # within the probes' timeout
    assert dependency_up(metrics.text) == {"database": 1.0, "redis": 0.0}


async def test_database_unreachable_answers_503_naming_it(
    app: FastAPI, client: httpx.AsyncClient, closed_port: int
) -> None:
    healthy = app.state.sessionmaker
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/none")
    app.state.sessionmaker = async_sessionmaker(engine)
    try:
        response = await client.get("/readyz")
        metrics = await client.get("/metrics")
    finally:
        app.state.sessionmaker = healthy
        await engine.dispose()
    assert response.status_code == 503, response.text
    report = Readiness.model_validate(response.json())
    assert report.status == "unavailable"
    assert report.failed == ["database"]
    assert report.checks.database.status == "error"
    assert report.checks.database.error
    assert report.checks.redis.status == "ok"
    assert dependency_up(metrics.text) == {"database": 0.0, "redis": 1.0}


async def test_a_hung_dependency_reads_as_timeout(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from services import app as app_module

    async def hang(*_args: Any, **_kwargs: Any) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(app_module, "REDIS_CHECK_SECONDS", 0.2)
    monkeypatch.setattr(app.state.queue.redis, "ping", hang)
    started = time.monotonic()
    response = await client.get("/readyz")
    assert time.monotonic() - started < 2
    report = Readiness.model_validate(response.json())
    assert report.failed == ["redis"]
    assert report.checks.redis.error == "timeout"


def test_openapi_documents_both_answers(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/readyz"]["get"]
    for status in ("200", "503"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Readiness"}, status
    health = app.openapi()["paths"]["/healthz"]["get"]["responses"]["200"]
    assert health["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Liveness"
    }
