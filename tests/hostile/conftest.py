"""Fixtures of the hostile-input suite: each service under uvicorn on a loopback port (for
Schemathesis and raw-socket tests, which are synchronous), staff tokens that need no database
row, a request that has travelled intake → routing → scoring, and envelope assertions.

The servers follow ``tests/intake_service/open311/test_schemathesis.py``: ``create_app()`` in a
daemon thread, lifespan on, on the test database and Redis db that ``tests/conftest.py`` chose.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI

from services.auth import issue_token
from tests.fixtures.environment import RUN_REDIS_URL

ENVELOPE_KEYS = {"code", "message", "message_en", "details", "request_id"}


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Inherited by accepted connections; without it every answer waits for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        access_log=False,
        ws="none",
        http="h11",
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def intake_server(test_database: str) -> Iterator[str]:
    from intake_service.app import create_app

    with serve(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def routing_server(test_database: str) -> Iterator[str]:
    from routing_service.app import create_app

    with serve(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def scoring_server(test_database: str) -> Iterator[str]:
    from scoring_service.app import create_app

    with serve(create_app()) as url:
        yield url


def admin_headers() -> dict[str, str]:
    """A district admin's bearer token: valid in routing and scoring without a database row."""
    token = issue_token(subject="admin", role="admin", unit_code="HS", unit_path="/HS/")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def sync_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(RUN_REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def reset_rate_limits(sync_redis: redis.Redis) -> Callable[[], None]:
    """Forget every rate-limit counter: fuzzing from one IP must not turn into a wall of 429s."""

    def reset() -> None:
        keys = list(sync_redis.scan_iter(match="ratelimit:*", count=1000))
        if keys:
            sync_redis.delete(*keys)

    return reset


def assert_envelope(
    response: httpx.Response | Any, status: int | tuple[int, ...] | None = None, code: str | None = None
) -> dict[str, Any]:
    """The response is a 4xx in the shared error envelope; returns its ``error`` object."""
    text = response.text[:500]
    if status is None:
        assert 400 <= response.status_code < 500, (response.status_code, text)
    elif isinstance(status, tuple):
        assert response.status_code in status, (response.status_code, text)
    else:
        assert response.status_code == status, (response.status_code, text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ENVELOPE_KEYS, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["message_en"], str) and error["message_en"], error
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


def validation_types(error: dict[str, Any]) -> set[str]:
    """The pydantic error types of a 422 ``validation_error`` envelope."""
    assert error["code"] == "validation_error", error
    return {item["type"] for item in error["details"] or []}
