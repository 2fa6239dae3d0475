"""A stopped clock (2026-11-20 12:00 Asia/Shanghai, as in the evaluation tests) and a clean
public statistics cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from scoring_service.evaluation.statistics import public_cache
from tests.scoring_service.evaluation.helpers import NOW


@pytest.fixture(autouse=True)
def _empty_public_cache() -> Iterator[None]:
    public_cache.clear()
    yield
    public_cache.clear()


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    for where in (
        "scoring_service.evaluation.service.utcnow",
        "scoring_service.evaluation.dependencies.utcnow",
        "scoring_service.evaluation.statistics.utcnow",
        "scoring_service.evaluation.closing.utcnow",
    ):
        monkeypatch.setattr(where, lambda: NOW)
    return NOW
