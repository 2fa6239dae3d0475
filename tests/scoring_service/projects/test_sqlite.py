"""The agency figures on SQLite, the embedded default: the same SQL, the same numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from scoring_service import facts
from scoring_service.evaluation.service import Month, evaluation_service
from scoring_service.evaluation.statistics import statistics_service
from scoring_service.models import Model
from services.db import AsyncSessionMaker
from shared.enums import CardStatus, ProjectStage
from tests.fixtures.database import sqlite_sessionmaker_for
from tests.scoring_service.evaluation.helpers import NOW
from tests.scoring_service.projects.helpers import project, sh, step


@pytest.fixture
async def sqlite_sessionmaker(tmp_path: Path) -> AsyncIterator[AsyncSessionMaker]:
    async with sqlite_sessionmaker_for(tmp_path, Model.metadata, "scoring") as sessionmaker:
        yield sessionmaker


async def test_projects_and_agency_rate_on_sqlite(
    sqlite_sessionmaker: AsyncSessionMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scoring_service.evaluation.statistics.utcnow", lambda: NOW)
    started = project(stage=ProjectStage.started, created=sh(9, 1),
                      reached={ProjectStage.started: date(2026, 10, 12)})  # fmt: skip
    cards = [
        step(dispatched=sh(10, 9), due=sh(10, 16, 17, 30), submitted=sh(10, 14),
             approved=sh(10, 15), working_days=3, limit_days=5),
        step(dispatched=sh(10, 12), due=sh(10, 27, 17, 30), submitted=sh(10, 28),
             approved=sh(10, 29), working_days=12, limit_days=10),
        step(status=CardStatus.suspended, dispatched=sh(10, 15), due=sh(10, 25, 17)),
    ]  # fmt: skip
    async with sqlite_sessionmaker() as session:
        await facts.apply_project(session, started, sh(10, 12))
        for card in cards:
            await facts.apply_card(session, card)
        await session.commit()
    async with sqlite_sessionmaker() as session:
        body = await statistics_service.figures(session, date(2026, 10, 1), date(2026, 10, 31))
        october = await evaluation_service.scorecards(session, Month(2026, 10), now=NOW)
    assert (body.projects.served.total, body.projects.started) == (1, 1)
    steps = body.projects.steps
    assert (steps.done, steps.measured, steps.working_days_used) == (2, 2, 15)
    assert (steps.time_ratio, steps.average_limit_days) == (1.0, 7.5)
    assert (steps.on_time.numerator, steps.on_time.denominator, steps.on_time.pending) == (1, 2, 1)
    (zj,) = october.units
    assert (zj.agency_due_in_period, zj.agency_on_time.rate, zj.dispatched, zj.score) == (
        3, 0.5, 0, None
    )  # fmt: skip
