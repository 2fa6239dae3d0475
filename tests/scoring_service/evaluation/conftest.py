"""Fixtures of the evaluation tests: a frozen "now", the October scenario, a clean cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from scoring_service.evaluation.statistics import public_cache
from services.db import AsyncSessionMaker
from tests.scoring_service.evaluation.helpers import NOW, build_october


@pytest.fixture(autouse=True)
def _empty_public_cache() -> Iterator[None]:
    public_cache.clear()
    yield
    public_cache.clear()


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The endpoints' clock, stopped at 2026-11-20 12:00 Asia/Shanghai."""
    monkeypatch.setattr("scoring_service.evaluation.service.utcnow", lambda: NOW)
    monkeypatch.setattr("scoring_service.evaluation.dependencies.utcnow", lambda: NOW)
    return NOW


@pytest.fixture
async def october(scoring_sessionmaker: AsyncSessionMaker) -> None:
    async with scoring_sessionmaker() as session:
        build_october(session)
        await session.commit()
