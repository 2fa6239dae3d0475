"""Routing's project and step snapshots land in scoring's facts through the worker's handlers:
newest revision kept, stage dates copied to their own columns, a termination dated once."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from scoring_service.models import CardFact, ProjectFact
from services.db import AsyncSessionMaker
from shared.enums import CardRole, CardStatus, ProjectLevel, ProjectStage
from tests.scoring_service.projects.helpers import envelope, feed, project, sh, step


async def test_project_snapshots_keep_the_newest_revision(
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    project_id = uuid.uuid4()
    reached = {ProjectStage.signed: date(2026, 9, 10), ProjectStage.started: date(2026, 10, 12)}
    newer = project(project_id=project_id, revision=2, stage=ProjectStage.started,
                    level=ProjectLevel.provincial, created=sh(9, 1), reached=reached)  # fmt: skip
    older = project(project_id=project_id, revision=1, stage=ProjectStage.signed,
                    created=sh(9, 1), reached={ProjectStage.signed: date(2026, 9, 10)})  # fmt: skip
    # The older snapshot arrives late: it changes nothing.
    await feed(scoring_sessionmaker, envelope(newer), envelope(older))
    async with scoring_sessionmaker() as session:
        fact = await session.get(ProjectFact, project_id)
    assert fact is not None
    assert (fact.revision, fact.stage, fact.level) == (2, "started", "provincial")
    assert (fact.started_on, fact.continuing_on, fact.completed_on) == (
        date(2026, 10, 12), None, None
    )  # fmt: skip
    assert fact.stage_dates == {
        "signed": {"planned": None, "actual": "2026-09-10"},
        "started": {"planned": None, "actual": "2026-10-12"},
    }
    assert fact.investment == Decimal("52000.50")
    assert fact.terminated_on is None


async def test_a_termination_is_dated_by_the_first_snapshot_that_shows_it(
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    project_id = uuid.uuid4()
    terminated = project(project_id=project_id, revision=2, stage=ProjectStage.terminated,
                         created=sh(5, 1))  # fmt: skip
    again = project(project_id=project_id, revision=3, stage=ProjectStage.terminated,
                    created=sh(5, 1))  # fmt: skip
    # Routing sent the termination on 10 October (Shanghai: the UTC instant is 9 October).
    await feed(
        scoring_sessionmaker,
        envelope(project(project_id=project_id, created=sh(5, 1)), sh(5, 1)),
        envelope(terminated, sh(10, 10, 0, 30)),
        envelope(again, sh(11, 3)),
    )
    async with scoring_sessionmaker() as session:
        fact = await session.get(ProjectFact, project_id)
    assert fact is not None
    assert (fact.revision, fact.stage, fact.terminated_on) == (3, "terminated", date(2026, 10, 10))


async def test_step_fields_are_copied_onto_card_facts(
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    project_id = uuid.uuid4()
    on_spot = step(project_id=project_id, dispatched=sh(10, 20), due=sh(10, 20, 17, 30),
                   submitted=sh(10, 20), approved=sh(10, 20), working_days=0, limit_days=1,
                   on_spot=True)  # fmt: skip
    regular = step(role=CardRole.single, status=CardStatus.signed, dispatched=sh(10, 20),
                   due=sh(10, 27, 17, 30))  # fmt: skip
    await feed(scoring_sessionmaker, envelope(on_spot), envelope(regular))
    async with scoring_sessionmaker() as session:
        rows = {row.card_id: row for row in (await session.scalars(select(CardFact))).all()}
    step_fact, regular_fact = rows[on_spot.card_id], rows[regular.card_id]
    assert (step_fact.role, step_fact.project_id, step_fact.procedure_code) == (
        "step", project_id, "JS-SGXK"
    )  # fmt: skip
    assert (step_fact.limit_days, step_fact.on_spot, step_fact.working_days_taken) == (1, True, 0)
    assert (regular_fact.project_id, regular_fact.limit_days, regular_fact.on_spot) == (
        None, None, False
    )  # fmt: skip
