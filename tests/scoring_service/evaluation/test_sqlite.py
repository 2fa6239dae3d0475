"""The same aggregates on SQLite, the embedded default: identical figures to PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from scoring_service.evaluation.service import Month, evaluation_service
from scoring_service.evaluation.statistics import statistics_service
from scoring_service.models import Model
from services.db import AsyncSessionMaker
from tests.fixtures.database import sqlite_sessionmaker_for
from tests.scoring_service.evaluation.helpers import (
    FG,
    GH,
    GM,
    JT,
    KG,
    NOW,
    build_october,
    expected_jt,
)
from tests.scoring_service.evaluation.test_statistics import build


@pytest.fixture
async def sqlite_sessionmaker(tmp_path: Path) -> AsyncIterator[AsyncSessionMaker]:
    async with sqlite_sessionmaker_for(tmp_path, Model.metadata, "scoring") as sessionmaker:
        yield sessionmaker


async def test_scorecards_and_annual_on_sqlite(sqlite_sessionmaker: AsyncSessionMaker) -> None:
    async with sqlite_sessionmaker() as session:
        build_october(session)
        await session.commit()
    async with sqlite_sessionmaker() as session:
        october = await evaluation_service.scorecards(session, Month(2026, 10), now=NOW)
        annual = await evaluation_service.annual(session, 2026, now=NOW)
    jt = next(card for card in october.units if card.unit_code == JT)
    assert {k: v for k, v in jt.model_dump(mode="json").items() if k != "rank"} == expected_jt()
    assert [(c.unit_code, c.rank) for c in october.units] == [(GH, 1), (GM, 2), (JT, 3), (FG, None)]
    assert [(e.unit_code, e.score) for e in annual.units] == [
        (GM, 80.0), (FG, 75.0), (GH, 50.0), (JT, 29.64), (KG, 25.0)
    ]  # fmt: skip


async def test_statistics_on_sqlite(sqlite_sessionmaker: AsyncSessionMaker) -> None:
    await build(sqlite_sessionmaker)
    async with sqlite_sessionmaker() as session:
        body = await statistics_service.figures(session, date(2026, 10, 1), date(2026, 10, 31))
    assert (body.enterprises_visited, body.merchants_visited) == (2, 2)
    assert (body.issues_collected, body.resolved, body.in_progress) == (7, 4, 2)
    assert (body.ratings, body.satisfaction_rate) == (4, 0.75)
    assert body.online.collected == 4
    assert body.by_channel["cppcc_165"].satisfaction_rate == 0.5
