"""The whole stack for end-to-end tests: each service's API and worker processes on loopback,
with a throwaway Redis, against the test database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.processes import ServiceStack


@pytest.fixture
async def full_stack(tmp_path: Path) -> AsyncIterator[ServiceStack]:
    running = ServiceStack(tmp_path, ("intake", "routing", "scoring"),
                           {"ROUTING_SUPERVISION_TICK_SECONDS": "2"})  # fmt: skip
    await asyncio.to_thread(running.start)
    try:
        yield running
    finally:
        await asyncio.to_thread(running.stop)
