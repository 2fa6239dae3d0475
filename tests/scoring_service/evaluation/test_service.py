"""Scorecards, rankings, policies and the annual evaluation, computed by the service against
hand-worked figures (see helpers.build_october)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from scoring_service.evaluation import schemas
from scoring_service.evaluation.exceptions import InvalidMonth, InvalidYear, UnitNotFound
from scoring_service.evaluation.repository import UnitCounts, UnitRow
from scoring_service.evaluation.service import (
    Month,
    build_scorecard,
    evaluation_service,
    half_up,
    infer_unit_kind,
    parse_year,
    rank,
)
from services.auth import Principal
from services.db import AsyncSessionMaker
from shared.enums import UnitKind
from tests.scoring_service.evaluation.helpers import (
    FG,
    GH,
    GM,
    JT,
    KG,
    NOW,
    card,
    expected_jt,
    sh,
)

OCTOBER = Month(2026, 10)
LEADER = Principal(kind="staff", subject="hs_leader", role="leader", unit_code="HS", unit_path="HS")


def subset(card: schemas.Scorecard) -> dict[str, Any]:
    data = card.model_dump(mode="json")
    data.pop("rank")
    return data


def default_policy(**changes: float) -> schemas.EvaluationWeights:
    values: dict[str, float] = {
        "weight_sign": 10,
        "weight_on_time": 30,
        "weight_satisfaction": 40,
        "weight_resolution": 20,
        "basic_satisfaction_k": 1,
        "deduction_listed": 2,
        "deduction_escalated": 5,
        "deduction_red": 0.5,
    }
    values.update(changes)
    return schemas.EvaluationWeights.model_validate(values)


class TestMonth:
    def test_bounds_are_shanghai_midnights(self) -> None:
        assert OCTOBER.start == datetime(2026, 9, 30, 16, tzinfo=UTC)
        assert OCTOBER.end == datetime(2026, 10, 31, 16, tzinfo=UTC)
        assert Month(2026, 12).end == datetime(2026, 12, 31, 16, tzinfo=UTC)

    @pytest.mark.parametrize(
        "text", ["2026-13", "2026-00", "2026-1", "26-10", "abc", "2026/10", "1969-12"]
    )
    def test_rejects_malformed_months(self, text: str) -> None:
        with pytest.raises(InvalidMonth):
            Month.parse(text)

    def test_parses_and_prints(self) -> None:
        assert str(Month.parse("2026-10")) == "2026-10"
        assert Month.containing(sh(11, 1, 0, 30)) == Month(2026, 11)

    def test_year_range(self) -> None:
        assert parse_year(2026) == 2026
        with pytest.raises(InvalidYear):
            parse_year(1800)


class TestInferUnitKind:
    @pytest.mark.parametrize(
        ("name", "kind"),
        [
            ("区交通运输局", UnitKind.department),
            ("邯山供电公司", UnitKind.department),
            ("区纪委监委", UnitKind.discipline),
            ("邯山区营商环境优化中心", UnitKind.district_center),
            ("光明路街道营商环境优化中心", UnitKind.street_center),
            ("北张庄镇营商环境优化中心", UnitKind.street_center),
            ("邯山经济开发区(园区)营商环境优化中心", UnitKind.street_center),
            ("光明路街道新兴社区营商环境优化中心", UnitKind.community_center),
            ("北张庄镇北张庄村营商环境优化中心", UnitKind.community_center),
        ],
    )
    def test_kind_from_name(self, name: str, kind: UnitKind) -> None:
        assert infer_unit_kind("X", name) == kind


class TestHalfUp:
    def test_rounds_half_away_from_zero(self) -> None:
        assert half_up(0.125, 2) == 0.13
        assert half_up(2.675, 2) == 2.68  # round() gives 2.67 on the binary float
        assert half_up(5 / 7, 4) == 0.7143


class TestBuildScorecard:
    def test_empty_counts_give_zeros_and_nulls(self) -> None:
        scorecard = build_scorecard(
            UnitRow(JT, "区交通运输局"), OCTOBER, UnitCounts(), default_policy()
        )
        assert scorecard.dispatched == 0
        assert scorecard.sign_on_time.model_dump() == {
            "numerator": 0, "denominator": 0, "rate": None, "pending": 0
        }  # fmt: skip
        assert scorecard.satisfaction.rate is None
        assert scorecard.average_working_days is None
        assert scorecard.overdue == 0
        assert scorecard.deductions == 0
        assert scorecard.base_score is None
        assert scorecard.score is None

    def test_missing_rates_share_out_their_weight(self) -> None:
        # Only signing (1/2) and on-time (1/1): (10 x 0.5 + 30 x 1) / 40 x 100 = 87.5.
        counts = UnitCounts(dispatched=2, signed_on_time=1, due=1, completed_on_time=1)
        scorecard = build_scorecard(UnitRow(JT, None), OCTOBER, counts, default_policy())
        assert scorecard.base_score == 87.5
        assert scorecard.score == 87.5

    def test_score_never_below_zero_nor_above_100(self) -> None:
        counts = UnitCounts(due=10, escalated=3)
        scorecard = build_scorecard(UnitRow(JT, None), OCTOBER, counts, default_policy())
        assert scorecard.base_score == 0
        assert scorecard.deductions == 15
        assert scorecard.score == 0
        # Weights that do not sum to 100 are scaled: the score stays within [0, 100].
        perfect = UnitCounts(dispatched=1, signed_on_time=1, due=1, completed_on_time=1)
        heavy = default_policy(weight_sign=100, weight_on_time=100)
        assert build_scorecard(UnitRow(JT, None), OCTOBER, perfect, heavy).score == 100

    def test_weights_all_zero_on_present_rates_give_no_score(self) -> None:
        counts = UnitCounts(dispatched=1, signed_on_time=1)
        policy = default_policy(weight_sign=0)
        assert build_scorecard(UnitRow(JT, None), OCTOBER, counts, policy).score is None


@dataclass
class Entry:
    unit_code: str
    score: float | None
    unit_name: str | None = None
    rank: int | None = None


class TestRank:
    def test_ties_share_a_rank_and_unscored_come_last(self) -> None:
        entries = [
            Entry(code, score)
            for code, score in [("E", None), ("B", 90.0), ("A", 90.0), ("C", 80.0), ("D", 70.0)]
        ]
        ordered, top, bottom = rank(entries, 2)
        assert [(e.unit_code, e.rank) for e in ordered] == [
            ("A", 1), ("B", 1), ("C", 3), ("D", 4), ("E", None)
        ]  # fmt: skip
        assert [e.unit_code for e in top] == ["A", "B"]
        assert [e.unit_code for e in bottom] == ["D", "C"]

    def test_bottom_never_repeats_top(self) -> None:
        entries = [Entry(code, score) for code, score in [("A", 3.0), ("B", 2.0), ("C", 1.0)]]
        _ordered, top, bottom = rank(entries, 2)
        assert [e.unit_code for e in top] == ["A", "B"]
        assert [e.unit_code for e in bottom] == ["C"]


@pytest.mark.usefixtures("october")
class TestScorecards:
    async def test_october_by_hand(self, scoring_sessionmaker: AsyncSessionMaker) -> None:
        async with scoring_sessionmaker() as session:
            result = await evaluation_service.scorecards(session, OCTOBER, now=NOW)
        cards = {card.unit_code: card for card in result.units}
        assert [c.unit_code for c in result.units] == [GH, GM, JT, FG]  # KG starts in November
        assert subset(cards[JT]) == expected_jt()
        assert cards[GH].score == 100
        assert cards[GH].satisfaction.denominator == 2  # the 00:30 1 November revisit is November's
        assert cards[GH].average_working_days == 6
        assert cards[GM].unit_kind == UnitKind.street_center
        assert cards[GM].score == 80
        assert cards[GM].resolution.model_dump() == {
            "numerator": 0, "denominator": 1, "rate": 0.0, "pending": 0
        }  # fmt: skip
        assert cards[FG].dispatched == 0
        assert cards[FG].score is None
        assert [(c.unit_code, c.rank) for c in result.units] == [
            (GH, 1),
            (GM, 2),
            (JT, 3),
            (FG, None),
        ]
        assert result.ranked == 3
        assert [e.unit_code for e in result.top] == [GH, GM, JT]
        assert result.bottom == []
        assert result.policy.source == "settings"

    async def test_top_and_bottom(self, scoring_sessionmaker: AsyncSessionMaker) -> None:
        async with scoring_sessionmaker() as session:
            result = await evaluation_service.scorecards(session, OCTOBER, top=1, now=NOW)
        assert [(e.unit_code, e.rank, e.score) for e in result.top] == [(GH, 1, 100.0)]
        assert [(e.unit_code, e.rank, e.score) for e in result.bottom] == [(JT, 3, 74.64)]

    async def test_unit_kind_filter_ranks_within_the_kind(
        self, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with scoring_sessionmaker() as session:
            streets = await evaluation_service.scorecards(
                session, OCTOBER, unit_kind=UnitKind.street_center, now=NOW
            )
            departments = await evaluation_service.scorecards(
                session, OCTOBER, unit_kind=UnitKind.department, now=NOW
            )
        assert [(c.unit_code, c.rank) for c in streets.units] == [(GM, 1)]
        assert [(c.unit_code, c.rank) for c in departments.units] == [(GH, 1), (JT, 2), (FG, None)]

    async def test_policy_with_half_weight_for_basic(
        self, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with scoring_sessionmaker() as session:
            policy = await evaluation_service.set_policy(
                session, LEADER, OCTOBER, schemas.EvaluationPolicyUpdate(basic_satisfaction_k=0.5)
            )
            await session.commit()
        assert policy.basic_satisfaction_k == 0.5
        assert policy.weight_on_time == 30  # left out: unchanged
        async with scoring_sessionmaker() as session:
            result = await evaluation_service.scorecards(session, OCTOBER, now=NOW)
            september = await evaluation_service.policy_for(session, Month(2026, 9))
            december = await evaluation_service.policy_for(session, Month(2026, 12))
        cards = {card.unit_code: card for card in result.units}
        assert subset(cards[JT]) == expected_jt(k=0.5)
        assert cards[GM].score == 60
        assert [c.unit_code for c in result.units[:3]] == [GH, JT, GM]  # the order flips
        assert result.policy.source == "policy"
        assert result.policy.effective_month == "2026-10"
        assert september.source == "settings"
        assert december.effective_month == "2026-10"
        assert december.basic_satisfaction_k == 0.5

    async def test_single_unit_with_rank(self, scoring_sessionmaker: AsyncSessionMaker) -> None:
        async with scoring_sessionmaker() as session:
            jt = await evaluation_service.scorecard(session, OCTOBER, JT, now=NOW)
            kg = await evaluation_service.scorecard(session, OCTOBER, KG, now=NOW)
            hs = await evaluation_service.scorecard(session, OCTOBER, "HS", now=NOW)
            with pytest.raises(UnitNotFound):
                await evaluation_service.scorecard(session, OCTOBER, "DEPT-NONE", now=NOW)
        assert jt.rank == 3
        assert jt.score == 74.64
        assert (kg.dispatched, kg.score, kg.rank, kg.unit_name) == (
            0,
            None,
            None,
            "区科学技术和工业信息化局",
        )
        assert (hs.dispatched, hs.score, hs.unit_name) == (0, None, None)

    async def test_empty_month(self, scoring_sessionmaker: AsyncSessionMaker) -> None:
        async with scoring_sessionmaker() as session:
            result = await evaluation_service.scorecards(session, Month(2025, 1), now=NOW)
            jt = await evaluation_service.scorecard(session, Month(2025, 1), JT, now=NOW)
        assert result.units == []
        assert result.ranked == 0
        assert (result.top, result.bottom) == ([], [])
        assert jt.dispatched == 0
        assert jt.score is None
        assert jt.completion_on_time.denominator == 0

    async def test_annual_mean_of_scored_months(
        self, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with scoring_sessionmaker() as session:
            result = await evaluation_service.annual(session, 2026, now=NOW)
        entries = {entry.unit_code: entry for entry in result.units}
        assert result.months_included == [f"2026-{m:02d}" for m in range(1, 12)]
        jt_months = {m.month: m.score for m in entries[JT].months if m.score is not None}
        assert jt_months == {"2026-09": 14.29, "2026-10": 74.64, "2026-11": 0.0}
        assert entries[JT].months_scored == 3
        assert entries[JT].score == 29.64  # (14.29 + 74.64 + 0) / 3
        assert entries[GH].score == 50.0  # October 100, November 0 (an unsatisfied revisit)
        assert [(e.unit_code, e.score, e.rank) for e in result.units] == [
            (GM, 80.0, 1), (FG, 75.0, 2), (GH, 50.0, 3), (JT, 29.64, 4), (KG, 25.0, 5)
        ]  # fmt: skip
        assert [e.unit_code for e in result.top] == [GM, FG, GH]
        assert [e.unit_code for e in result.bottom] == [KG, JT]
        assert len(entries[JT].months) == 12
        assert entries[JT].months[11].score is None

    async def test_annual_of_a_future_year_is_empty(
        self, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with scoring_sessionmaker() as session:
            result = await evaluation_service.annual(session, 2027, now=NOW)
        assert result.months_included == []
        assert result.units == []


class TestUndecided:
    async def test_cards_not_yet_due_wait_outside_the_denominators(
        self, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        now = sh(10, 14, 10)
        unit = (JT, "区交通运输局")
        async with scoring_sessionmaker() as session:
            session.add_all(
                [
                    # not signed, still within the 2 hours: pending for signing and response
                    card(unit, uuid.uuid4(), status="dispatched", dispatched=sh(10, 14, 9), due=sh(10, 21, 17, 30)),
                    # signed on time, contact window open: pending for response only
                    card(unit, uuid.uuid4(), status="signed", dispatched=sh(10, 13, 9),
                         signed=sh(10, 13, 9, 30), contact_due=sh(10, 14, 17, 30), due=sh(10, 20, 17, 30)),
                    # suspended past its due time: the clock is paused, not overdue
                    card(unit, uuid.uuid4(), status="suspended", dispatched=sh(10, 9), signed=sh(10, 9, 10),
                         first_contact=sh(10, 9, 11), due=sh(10, 13, 17, 30)),
                    # open and past due: overdue
                    card(unit, uuid.uuid4(), status="signed", dispatched=sh(10, 9, 10), signed=sh(10, 9, 11),
                         first_contact=sh(10, 9, 14), due=sh(10, 13, 17, 30)),
                ]
            )  # fmt: skip
            await session.commit()
        async with scoring_sessionmaker() as session:
            jt = await evaluation_service.scorecard(session, OCTOBER, JT, now=now)
        assert jt.dispatched == 4
        assert jt.sign_on_time.model_dump() == {
            "numerator": 3,
            "denominator": 3,
            "rate": 1.0,
            "pending": 1,
        }
        assert jt.response.model_dump() == {
            "numerator": 2,
            "denominator": 2,
            "rate": 1.0,
            "pending": 2,
        }
        assert jt.due_in_period == 4
        assert jt.completion_on_time.model_dump() == {
            "numerator": 0, "denominator": 1, "rate": 0.0, "pending": 3
        }  # fmt: skip
        assert jt.overdue == 1
