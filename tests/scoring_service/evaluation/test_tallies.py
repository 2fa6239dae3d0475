"""The evaluation's roll-ups equal a recount from the facts (issue 21).

Two ways in: the hand-worked October (facts written directly, then a rebuild) must give the
same scorecards, annual evaluation and statistics from the roll-ups as from the facts; and a
random history applied through the real event handlers (snapshots out of order and repeated,
returns, redos, reclassified topics, ratings through the feedback service, groups committed
together and rolled back) must leave roll-ups that a recount finds nothing to repair in.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from scoring_service import facts
from scoring_service.evaluation import tallies
from scoring_service.evaluation.repository import EvaluationRepository, StatisticsRepository
from scoring_service.evaluation.service import Month, evaluation_service
from scoring_service.evaluation.statistics import statistics_service
from scoring_service.feedback.schemas import RatingIn
from scoring_service.feedback.service import feedback_service
from scoring_service.models import CaseFact, Rating, TallyState, UnitMonthTally
from services.db import AsyncSessionMaker
from shared.events import CardSnapshot, CaseSnapshot, Location, RequestSubmitted, SubmitterInfo
from tests.scoring_service.evaluation.helpers import NOW, sh

MONTHS = tallies.month_range("2026-08", "2026-12")
UNITS = [("DEPT-JT", "区交通运输局"), ("DEPT-GH", "区自然资源和规划局"), ("HS-GM", "光明路街道")]
TOPICS = ["permit", "transport", "land"]


async def _everything(session: Any) -> dict[str, Any]:
    """Every figure the roll-ups feed, for the months around October."""
    cards = {
        str(month): (await evaluation_service.scorecards(session, month, now=NOW)).model_dump()
        for month in (Month(2026, 9), Month(2026, 10), Month(2026, 11))
    }
    annual = (await evaluation_service.annual(session, 2026, now=NOW)).model_dump()
    figures = await statistics_service.figures(
        session, datetime(2026, 9, 1).date(), datetime(2026, 11, 30).date()
    )
    return {"scorecards": cards, "annual": annual, "statistics": figures.model_dump()}


@pytest.mark.usefixtures("october")
async def test_october_from_rebuilt_tallies_equals_the_facts(
    scoring_sessionmaker: AsyncSessionMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scoring_service.evaluation.statistics.utcnow", lambda: NOW)
    async with scoring_sessionmaker() as session:
        assert not await tallies.ready(session)
        from_facts = await _everything(session)
    async with scoring_sessionmaker() as session:
        built = await tallies.rebuild(session)
        assert built["unit_rows"] > 0
        assert built["figure_rows"] > 0
    async with scoring_sessionmaker() as session:
        assert await tallies.ready(session)
        from_tallies = await _everything(session)
        assert from_tallies == from_facts
        assert await tallies.check(session, MONTHS, repair=False) == 0


@pytest.mark.usefixtures("october")
async def test_check_finds_and_repairs_a_wrong_row(scoring_sessionmaker: AsyncSessionMaker) -> None:
    async with scoring_sessionmaker() as session:
        await tallies.rebuild(session)
    async with scoring_sessionmaker() as session:
        row = await session.scalar(select(UnitMonthTally).where(UnitMonthTally.month == "2026-10"))
        assert row is not None
        row.dispatched += 5  # a fact written by a worker that did not keep the roll-ups
        await session.commit()
    async with scoring_sessionmaker() as session:
        assert await tallies.check(session, MONTHS, repair=False) == 1
        assert await tallies.check(session, MONTHS) == 1
    async with scoring_sessionmaker() as session:
        assert await tallies.check(session, MONTHS, repair=False) == 0
        state = await session.get(TallyState, 1)
        assert state is not None
        assert state.drift == 1


# ---------------------------------------------------------------------- a random history


def _at(rng: random.Random, start: datetime, hours: float) -> datetime:
    return start + timedelta(hours=rng.uniform(0.1, hours))


class History:
    """Random cases with their cards' snapshots, generated like routing would send them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[tuple[str, Any]] = []

    def build(self, cases: int) -> None:
        for _ in range(cases):
            self._case()

    def _case(self) -> None:
        rng = self.rng
        case_id, request_id = uuid.uuid4(), uuid.uuid4()
        received = sh(rng.choice([8, 9, 10, 11]), rng.randint(1, 28), rng.randint(0, 23))
        kind = rng.choice(["complaint", "consult", "suggestion"])
        topic = rng.choice(TOPICS)
        channel = rng.choice(["app", "hotline", "smart_hall"])
        self.events.append(("request", RequestSubmitted(
            request_id=request_id, tracking_no=f"T{request_id.hex[:12]}", channel=channel,
            type=kind, topic=topic, topic_suggested=False, topic_confidence=1.0,
            urgency="normal", title="t", description="d", location=Location(),
            submitter=SubmitterInfo(kind="enterprise", name="某公司"), anonymous=False,
            confidential=False, duplicate_of="X" if rng.random() < 0.1 else None,
            received_at=received)))  # fmt: skip
        revision = 0

        def case(status: str, **extra: Any) -> None:
            nonlocal revision
            revision += 1
            self.events.append(("case", CaseSnapshot(
                case_id=case_id, revision=revision, request_id=request_id,
                tracking_no=f"T{request_id.hex[:12]}", channel=channel, type=kind,
                topic=topic, urgency="normal", classification=None,
                status=status, area_code=None, owner_unit_code="HS",
                submitter=SubmitterInfo(kind="enterprise", name="某公司"), anonymous=False,
                received_at=received, redo_count=redo, **extra)))  # fmt: skip

        redo = 0
        case("pending_verification")
        case("dispatched")
        moment = received + timedelta(hours=1)
        units = rng.sample(UNITS, 2)
        for attempt in range(rng.choice([1, 1, 2])):
            outcome = self._card(case_id, units[attempt % 2], moment, redo,
                                 role=rng.choice(["single", "single", "lead", "co", "step"]))  # fmt: skip
            moment = outcome + timedelta(hours=1)
            if rng.random() < 0.3:
                topic = rng.choice(TOPICS)  # reclassified: later snapshots carry it
                case("in_progress")
            case("completed", completed_at=moment)
            if rng.random() < 0.8:
                satisfaction = rng.choice(["satisfied", "basic", "unsatisfied"])
                self.events.append(
                    ("rating", (case_id, redo, satisfaction, rng.choice([True, None])))
                )
            redo += 1
            case("in_progress")
        case(rng.choice(["closed", "completed", "in_progress"]))

    def _card(
        self, case_id: uuid.UUID, unit: tuple[str, str], start: datetime, redo: int, role: str
    ) -> datetime:
        rng = self.rng
        card_id = uuid.uuid4()
        state: dict[str, Any] = {
            "card_id": card_id, "case_id": case_id, "unit_code": unit[0], "unit_name": unit[1], "role": role,
            "status": "dispatched", "dispatched_at": start, "sign_due_at": start + timedelta(hours=2),
            "original_due_at": start + timedelta(days=7), "due_at": start + timedelta(days=7),
            "redo_count": redo,
        }  # fmt: skip
        revision = 0

        def send(**changes: Any) -> None:
            nonlocal revision
            revision += 1
            state.update(changes)
            self.events.append(("card", CardSnapshot(revision=revision, **state)))

        send()
        moment = start
        if rng.random() < 0.15:  # returned within time: never the unit's case
            moment = _at(rng, moment, 3)
            send(status="returned", returned_at=moment)
            return moment
        if rng.random() < 0.1:  # never signed: stays pending or overdue
            return moment
        moment = _at(rng, moment, 3)
        send(status="signed", signed_at=moment, contact_due_at=moment + timedelta(days=1))
        if rng.random() < 0.8:
            moment = _at(rng, moment, 30)
            send(first_contact_at=moment)
        if rng.random() < 0.2:
            send(supervision_level=rng.choice(["red", "listed", "escalated"]),
                 listed=rng.random() < 0.3)  # fmt: skip
        if rng.random() < 0.1:
            send(status="suspended")
            return moment
        if rng.random() < 0.15:
            return moment  # not submitted yet
        moment = _at(rng, moment, 24 * 10)
        send(status="submitted", submitted_at=moment)
        moment = _at(rng, moment, 24)
        send(status="approved", approved_at=moment, working_days_taken=rng.randint(1, 9))
        return moment


async def _apply(session: Any, kind: str, event: Any) -> None:
    if kind == "request":
        await facts.apply_request(session, event)
    elif kind == "case":
        await facts.apply_case(session, event)
    elif kind == "card":
        await facts.apply_card(session, event)
    else:  # a rating, as the feedback endpoints record it, if the case is ready for it
        case_id, round_, satisfaction, resolved = event
        case = await session.get(CaseFact, case_id)
        if case is None or case.redo_count != round_ or case.status not in ("completed", "closed"):
            return
        await feedback_service.rate(
            session, case, RatingIn(satisfaction=satisfaction, resolved=resolved),
            source="staff", method="phone", recorded_by="staff:test",
        )  # fmt: skip


async def test_random_history_through_the_handlers_needs_no_repair(
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    async with scoring_sessionmaker() as session:
        assert await tallies.ensure_built(session)  # empty: built at once
    history = History(seed=21)
    history.build(cases=120)
    rng = history.rng
    events = history.events
    # Snapshots overtaking each other (neighbours swapped), some delivered twice, late.
    shuffled = list(events)
    for i in range(len(shuffled) - 1):
        if rng.random() < 0.3:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    shuffled += rng.sample(events, 40)
    position = 0
    while position < len(shuffled):
        size = rng.randint(1, 8)
        group = shuffled[position : position + size]
        position += size
        async with scoring_sessionmaker() as session:
            for kind, event in group:
                await _apply(session, kind, event)
            if rng.random() < 0.1:
                await session.rollback()  # a failed group: its changes go with it
                position -= size
                continue
            await session.commit()
    # Ratings that arrived before their case was ready are given again, as staff would.
    for kind, event in events:
        if kind == "rating":
            async with scoring_sessionmaker() as session:
                await _apply(session, kind, event)
                await session.commit()
    async with scoring_sessionmaker() as session:
        rated = await session.scalar(select(func.count()).select_from(Rating))
        assert rated is not None
        assert rated > 10
        assert await tallies.check(session, MONTHS, repair=False) == 0
        # The scorecards' counts themselves, with what depends on the clock, at several nows.
        repository = EvaluationRepository.from_session(session)
        bounds = [MONTHS[0].start, *(m.end for m in MONTHS)]
        labels = [str(m) for m in MONTHS]
        for now in (sh(9, 15), sh(10, 20), NOW):
            assert _nonzero(await repository.period_counts(bounds, labels, now)) == _nonzero(
                await repository.period_counts_from_facts(bounds, now)
            )
        statistics = StatisticsRepository.from_session(session)
        since, until = MONTHS[0].start, MONTHS[-1].end
        assert _nonzero(await statistics.figures(since, until)) == _nonzero(
            await statistics.figures_from_facts(since, until)
        )


def _nonzero(counts: dict[Any, Any]) -> dict[Any, Any]:
    """A roll-up row that came back to zero is kept; a recount has no row for it."""
    return {key: value for key, value in counts.items() if any(vars(value).values())}
