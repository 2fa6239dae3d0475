"""Monthly scorecards, rankings, the year-end comprehensive evaluation and the policy in force.

SQL does the counting (see :mod:`scoring_service.evaluation.repository`); this module turns
counts into rates and scores, per unit and month, with the policy of that month.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol, TypeVar

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.config import settings
from scoring_service.evaluation import schemas
from scoring_service.evaluation.exceptions import (
    InvalidMonth,
    InvalidPolicy,
    InvalidYear,
    UnitNotFound,
)
from scoring_service.evaluation.repository import (
    ClosingRepository,
    EvaluationRepository,
    PolicyRepository,
    UnitCounts,
    UnitRow,
)
from scoring_service.models import EvaluationPolicy, MonthlyScorecardClose
from services.auth import Principal
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import UnitKind

__all__ = [
    "EvaluationService",
    "Month",
    "build_scorecard",
    "evaluation_service",
    "half_up",
    "infer_unit_kind",
    "parse_year",
    "rank",
]

log = structlog.get_logger(__name__)

_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
MIN_YEAR, MAX_YEAR = 1970, 2999
WEIGHT_KEYS = tuple(schemas.EvaluationWeights.model_fields)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in Asia/Shanghai."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text.strip())
        if match is None:
            raise InvalidMonth(details={"month": text[:20]})
        year, month = int(match.group(1)), int(match.group(2))
        if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
            raise InvalidMonth(details={"month": text[:20]})
        return cls(year, month)

    @classmethod
    def containing(cls, moment: datetime) -> Month:
        local = moment.astimezone(SHANGHAI)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    @property
    def start(self) -> datetime:
        """The first instant of the month, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=SHANGHAI).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant of the next month, in UTC (exclusive bound)."""
        return self.next().start


def parse_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidYear(details={"year": year})
    return year


def unit_kind_of(unit: UnitRow) -> UnitKind:
    """The kind routing reported with the unit's cards; inferred from the name for facts
    recorded before card snapshots carried it."""
    if unit.kind:
        return UnitKind(unit.kind)
    return infer_unit_kind(unit.code, unit.name)


def infer_unit_kind(code: str, name: str | None) -> UnitKind:
    """The kind of a unit, from its name.

    Scoring's facts carry a unit's code and name but not its kind (the org tree lives in
    routing). Chinese unit names follow national conventions, so the kind is read from the name:
    纪委/监委 → discipline; a 中心 named after a 社区/村 → community center; after a
    街道/镇/乡/园区 → street center; any other 中心 → district center; everything else
    (局, 公司, 委 …) is a functional department.
    """
    text = name or code
    if "纪委" in text or "监委" in text:
        return UnitKind.discipline
    if "中心" in text:
        if "社区" in text or "村" in text:
            return UnitKind.community_center
        if any(marker in text for marker in ("街道", "镇", "乡", "园区")):
            return UnitKind.street_center
        return UnitKind.district_center
    return UnitKind.department


def _policy_out(
    month: Month, values: schemas.EvaluationWeights, row: EvaluationPolicy | None
) -> schemas.EvaluationPolicy:
    return schemas.EvaluationPolicy(
        **values.model_dump(),
        month=str(month),
        effective_month=row.effective_month if row is not None else None,
        source="policy" if row is not None else "settings",
        created_by=row.created_by if row is not None else None,
        created_at=row.created_at if row is not None else None,
    )


def _defaults() -> dict[str, float]:
    return {key: float(getattr(settings, key)) for key in WEIGHT_KEYS}


def _values(row: EvaluationPolicy | None) -> schemas.EvaluationWeights:
    merged: dict[str, Any] = _defaults()
    if row is not None:
        merged.update({k: v for k, v in (row.weights or {}).items() if k in WEIGHT_KEYS})
    try:
        return schemas.EvaluationWeights.model_validate(merged)
    except ValidationError:
        # Rows are validated when written; a hand-edited bad row falls back to the defaults
        # rather than making every scorecard fail.
        log.warning(
            "evaluation.policy_invalid", effective_month=row.effective_month if row else None
        )
        return schemas.EvaluationWeights.model_validate(_defaults())


def frozen_weights(close: MonthlyScorecardClose) -> schemas.EvaluationWeights:
    """The weights frozen with a closed month's version (a weight added since takes its
    schema default: 0 for the agency rate, so the frozen scores stay what they were)."""
    return schemas.EvaluationWeights.model_validate(
        {key: close.policy[key] for key in WEIGHT_KEYS if key in close.policy}
    )


def _closed_flags(close: MonthlyScorecardClose) -> dict[str, Any]:
    return {"closed": True, "closed_at": close.closed_at, "version": close.version}


def half_up(value: float | Decimal, places: int) -> float:
    """Round half away from zero on the decimal value (``round`` rounds the binary float)."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _ratio(numerator: int, denominator: int, pending: int = 0) -> schemas.Ratio:
    rate = half_up(numerator / denominator, 4) if denominator else None
    return schemas.Ratio(numerator=numerator, denominator=denominator, rate=rate, pending=pending)


def _rate(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def build_scorecard(
    unit: UnitRow, month: Month, counts: UnitCounts, policy: schemas.EvaluationWeights
) -> schemas.Scorecard:
    """Rates, deductions and score of one unit in one month, from its counts.

    * 按时签收率 = signed on time / dispatched, 响应率 = (signed on time and first contact on
      time) / dispatched, 按时办结率 = submitted by due_at / due in the month. Undecided cards
      (not due yet, or suspended) wait outside the denominator (``pending``).
    * 办件按时率(代办事项): the same as 按时办结率 over the unit's project steps (cards of role
      ``step``), which every other figure leaves out; weighted by ``weight_agency`` (0 by
      default, which leaves every score as it was without it).
    * 解决率 = resolved / revisits that asked (resolved unknown is left out); 满意率 =
      (satisfied + k x basic) / valid revisits.
    * score = weights over the rates that exist (a 0/0 rate is null and its weight is shared
      out over the others in proportion), scaled to 100, minus deductions, floored at 0.
    """
    sign_denominator = counts.dispatched - counts.sign_pending
    response_denominator = counts.dispatched - counts.response_pending
    due_denominator = counts.due - counts.due_pending
    agency_denominator = counts.agency_due - counts.agency_due_pending
    k = policy.basic_satisfaction_k
    satisfaction_numerator = counts.satisfied + k * counts.basic

    weighted = [
        (policy.weight_sign, _rate(counts.signed_on_time, sign_denominator)),
        (policy.weight_on_time, _rate(counts.completed_on_time, due_denominator)),
        (policy.weight_satisfaction, _rate(satisfaction_numerator, counts.ratings)),
        (policy.weight_resolution, _rate(counts.resolved, counts.resolution_known)),
        (policy.weight_agency, _rate(counts.agency_on_time, agency_denominator)),
    ]
    present = [(weight, rate) for weight, rate in weighted if rate is not None]
    total_weight = sum(weight for weight, _ in present)
    base = 100 * sum(w * r for w, r in present) / total_weight if total_weight > 0 else None
    deductions = (
        counts.listed * policy.deduction_listed
        + counts.escalated * policy.deduction_escalated
        + counts.red * policy.deduction_red
    )
    score = None if base is None else min(100.0, max(0.0, base - deductions))
    return schemas.Scorecard(
        unit_code=unit.code,
        unit_name=unit.name,
        unit_kind=unit_kind_of(unit),
        month=str(month),
        dispatched=counts.dispatched,
        sign_on_time=_ratio(counts.signed_on_time, sign_denominator, counts.sign_pending),
        response=_ratio(counts.responded, response_denominator, counts.response_pending),
        due_in_period=counts.due,
        completion_on_time=_ratio(counts.completed_on_time, due_denominator, counts.due_pending),
        agency_due_in_period=counts.agency_due,
        agency_on_time=_ratio(counts.agency_on_time, agency_denominator, counts.agency_due_pending),
        resolution=_ratio(counts.resolved, counts.resolution_known),
        satisfaction=schemas.SatisfactionRatio(
            numerator=half_up(satisfaction_numerator, 4),
            denominator=counts.ratings,
            rate=half_up(satisfaction_numerator / counts.ratings, 4) if counts.ratings else None,
            satisfied=counts.satisfied,
            basic=counts.basic,
            unsatisfied=counts.unsatisfied,
            k=k,
        ),
        completed=counts.completed,
        redo=_ratio(counts.redone, counts.completed),
        returned=_ratio(counts.returned, counts.dispatched),
        average_working_days=(
            half_up(counts.working_days_sum / counts.working_days_count, 2)
            if counts.working_days_count
            else None
        ),
        overdue=due_denominator - counts.completed_on_time,
        supervision=schemas.SupervisionCounts(
            red=counts.red, listed=counts.listed, escalated=counts.escalated
        ),
        deductions=half_up(deductions, 2),
        base_score=None if base is None else half_up(base, 2),
        score=None if score is None else half_up(score, 2),
        rank=None,
    )


class _Scored(Protocol):
    unit_code: str
    unit_name: str | None
    score: float | None
    rank: int | None


_T = TypeVar("_T", bound=_Scored)


def rank(
    entries: Iterable[_T], top: int
) -> tuple[list[_T], list[schemas.RankEntry], list[schemas.RankEntry]]:
    """Sort by score (best first, then unit code), rank scored entries 1, 2, 2, 4 … (ties
    share a rank), put unscored entries last, and pick the top and bottom lists."""
    scored = sorted(
        (e for e in entries if e.score is not None), key=lambda e: (-(e.score or 0), e.unit_code)
    )
    unscored = sorted((e for e in entries if e.score is None), key=lambda e: e.unit_code)
    previous: float | None = None
    current = 0
    for position, entry in enumerate(scored, start=1):
        if entry.score != previous:
            current, previous = position, entry.score
        entry.rank = current
    for entry in unscored:
        entry.rank = None

    def summary(entry: _T) -> schemas.RankEntry:
        assert entry.rank is not None
        assert entry.score is not None
        return schemas.RankEntry(
            rank=entry.rank, unit_code=entry.unit_code, unit_name=entry.unit_name, score=entry.score
        )

    best = scored[:top]
    rest = scored[len(best) :]
    worst = list(reversed(rest))[:top]
    return [*scored, *unscored], [summary(e) for e in best], [summary(e) for e in worst]


def _mean(scores: Sequence[float]) -> float | None:
    """The mean of the monthly scores as shown (2 decimals), computed in decimal so that anyone
    can reproduce it from the published monthly figures."""
    if not scores:
        return None
    total = sum((Decimal(repr(score)) for score in scores), Decimal(0))
    return half_up(total / len(scores), 2)


def _bounds(months: Sequence[Month]) -> list[datetime]:
    return [months[0].start, *(month.end for month in months)]


class EvaluationService:
    # ------------------------------------------------------------------ policy

    async def policy_for(self, session: AsyncSession, month: Month) -> schemas.EvaluationPolicy:
        row = await PolicyRepository.from_session(session).in_force(str(month))
        return _policy_out(month, _values(row), row)

    async def set_policy(
        self,
        session: AsyncSession,
        principal: Principal,
        month: Month,
        update: schemas.EvaluationPolicyUpdate,
    ) -> schemas.EvaluationPolicy:
        """Set the weights in force from ``month`` on (until a later policy). Fields left out
        keep the value in force for that month before the change."""
        repository = PolicyRepository.from_session(session)
        current = _values(await repository.in_force(str(month))).model_dump()
        current.update(update.model_dump(exclude_none=True))
        values = schemas.EvaluationWeights.model_validate(current)
        weights = (
            values.weight_sign
            + values.weight_on_time
            + values.weight_satisfaction
            + values.weight_resolution
        )
        if weights <= 0:
            raise InvalidPolicy()
        row = await repository.get(str(month))
        if row is None:
            row = await repository.add(
                EvaluationPolicy(
                    effective_month=str(month),
                    weights=values.model_dump(),
                    created_by=principal.actor,
                    created_at=utcnow(),
                )
            )
        else:
            row.weights = values.model_dump()
            row.created_by = principal.actor
            row.created_at = utcnow()
            await session.flush()
        log.info(
            "evaluation.policy_set", month=str(month), by=principal.actor, **values.model_dump()
        )
        return _policy_out(month, values, row)

    async def _policies(
        self, session: AsyncSession, months: Sequence[Month]
    ) -> dict[Month, schemas.EvaluationWeights]:
        rows = await PolicyRepository.from_session(session).up_to(str(months[-1]))
        result: dict[Month, schemas.EvaluationWeights] = {}
        for month in months:
            in_force = [row for row in rows if row.effective_month <= str(month)]
            result[month] = _values(in_force[-1] if in_force else None)
        return result

    # ------------------------------------------------------------------ scorecards

    async def _scorecards(
        self, session: AsyncSession, months: Sequence[Month], now: datetime
    ) -> tuple[list[UnitRow], dict[tuple[str, int], schemas.Scorecard]]:
        repository = EvaluationRepository.from_session(session)
        bounds = _bounds(months)
        counts = await repository.period_counts(bounds, [str(m) for m in months], now)
        units = await repository.units(before=bounds[-1])
        policies = await self._policies(session, months)
        cards: dict[tuple[str, int], schemas.Scorecard] = {}
        for unit in units:
            for index, month in enumerate(months):
                cards[(unit.code, index)] = build_scorecard(
                    unit, month, counts.get((unit.code, index), UnitCounts()), policies[month]
                )
        return units, cards

    async def scorecards(
        self,
        session: AsyncSession,
        month: Month,
        *,
        unit_kind: UnitKind | None = None,
        top: int = 3,
        now: datetime | None = None,
    ) -> schemas.ScorecardList:
        """The month's scorecards: frozen once the month is closed, else computed now."""
        close = await ClosingRepository.from_session(session).current(str(month))
        if close is not None:
            return await self._frozen_list(session, close, unit_kind=unit_kind, top=top)
        return await self.live_scorecards(session, month, unit_kind=unit_kind, top=top, now=now)

    async def live_scorecards(
        self,
        session: AsyncSession,
        month: Month,
        *,
        unit_kind: UnitKind | None = None,
        top: int = 3,
        now: datetime | None = None,
    ) -> schemas.ScorecardList:
        """The month's scorecards computed from the facts as they are now."""
        now = now or utcnow()
        _units, cards = await self._scorecards(session, [month], now)
        pool = [card for card in cards.values() if unit_kind is None or card.unit_kind == unit_kind]
        ordered, best, worst = rank(pool, top)
        return schemas.ScorecardList(
            month=str(month),
            unit_kind=unit_kind,
            policy=await self.policy_for(session, month),
            generated_at=now,
            ranked=sum(1 for card in ordered if card.rank is not None),
            units=ordered,
            top=best,
            bottom=worst,
        )

    async def _frozen_list(
        self,
        session: AsyncSession,
        close: MonthlyScorecardClose,
        *,
        unit_kind: UnitKind | None,
        top: int,
    ) -> schemas.ScorecardList:
        rows = await ClosingRepository.from_session(session).snapshots(close.month, close.version)
        cards = [schemas.Scorecard.model_validate(row.figures) for row in rows]
        # Ranks are taken again within the kind asked for, exactly as the live list does.
        pool = [card for card in cards if unit_kind is None or card.unit_kind == unit_kind]
        ordered, best, worst = rank(pool, top)
        return schemas.ScorecardList(
            month=close.month,
            unit_kind=unit_kind,
            policy=schemas.EvaluationPolicy.model_validate(close.policy),
            generated_at=close.closed_at,
            ranked=sum(1 for card in ordered if card.rank is not None),
            units=ordered,
            top=best,
            bottom=worst,
            **_closed_flags(close),
        )

    async def scorecard(
        self, session: AsyncSession, month: Month, unit_code: str, *, now: datetime | None = None
    ) -> schemas.UnitScorecard:
        """One unit's scorecard, ranked among all units. A unit without data in the month gets
        zeros; a unit never seen at all is a 404. A closed month answers from its snapshot."""
        close = await ClosingRepository.from_session(session).current(str(month))
        if close is not None:
            rows = await ClosingRepository.from_session(session).snapshots(
                close.month, close.version, unit_code
            )
            if rows:
                return schemas.UnitScorecard.model_validate(
                    {**rows[0].figures, **_closed_flags(close)}
                )
            zeros = await self._zeros(session, month, unit_code, frozen_weights(close))
            return schemas.UnitScorecard(**zeros.model_dump(), **_closed_flags(close))
        now = now or utcnow()
        _units, cards = await self._scorecards(session, [month], now)
        rank(cards.values(), 0)
        card = cards.get((unit_code, 0))
        if card is None:
            policies = await self._policies(session, [month])
            card = await self._zeros(session, month, unit_code, policies[month])
        return schemas.UnitScorecard(**card.model_dump())

    async def _zeros(
        self,
        session: AsyncSession,
        month: Month,
        unit_code: str,
        policy: schemas.EvaluationWeights,
    ) -> schemas.Scorecard:
        unit = await EvaluationRepository.from_session(session).unit(unit_code)
        if unit is None:
            raise UnitNotFound(details={"unit_code": unit_code})
        return build_scorecard(unit, month, UnitCounts(), policy)

    # ------------------------------------------------------------------ year-end evaluation

    async def annual(
        self,
        session: AsyncSession,
        year: int,
        *,
        unit_kind: UnitKind | None = None,
        top: int = 3,
        now: datetime | None = None,
    ) -> schemas.AnnualList:
        """年终综合考评: each unit's mean monthly score over the months it was scored.

        Deductions already sit inside each month's score, so none are taken again here.
        Months after the current one are not included (their scores would all be null). A
        closed month contributes its frozen scores, so the mean cannot move under it either.
        """
        now = now or utcnow()
        months = [Month(year, m) for m in range(1, 13)]
        included = [month for month in months if month <= Month.containing(now)]
        entries: list[schemas.AnnualEntry] = []
        if included:
            units, cards = await self._scorecards(session, included, now)
            frozen = await ClosingRepository.from_session(session).current_scores(
                [str(month) for month in included]
            )
            for unit in units:
                monthly = [
                    frozen[str(month)].get(unit.code)
                    if str(month) in frozen
                    else cards[(unit.code, i)].score
                    for i, month in enumerate(included)
                ]
                scores = [score for score in monthly if score is not None]
                kind = unit_kind_of(unit)
                if unit_kind is not None and kind != unit_kind:
                    continue
                entries.append(
                    schemas.AnnualEntry(
                        unit_code=unit.code,
                        unit_name=unit.name,
                        unit_kind=kind,
                        months=[
                            schemas.AnnualMonth(
                                month=str(month),
                                score=monthly[i] if i < len(monthly) else None,
                            )
                            for i, month in enumerate(months)
                        ],
                        months_scored=len(scores),
                        score=_mean(scores),
                        rank=None,
                    )
                )
        ordered, best, worst = rank(entries, top)
        return schemas.AnnualList(
            year=year,
            unit_kind=unit_kind,
            months_included=[str(month) for month in included],
            generated_at=now,
            ranked=sum(1 for entry in ordered if entry.rank is not None),
            units=ordered,
            top=best,
            bottom=worst,
        )

    async def annual_entry(
        self, session: AsyncSession, year: int, unit_code: str, *, now: datetime | None = None
    ) -> schemas.AnnualEntry:
        result = await self.annual(session, year, now=now)
        for entry in result.units:
            if entry.unit_code == unit_code:
                return entry
        unit = await EvaluationRepository.from_session(session).unit(unit_code)
        if unit is None:
            raise UnitNotFound(details={"unit_code": unit_code})
        return schemas.AnnualEntry(
            unit_code=unit.code,
            unit_name=unit.name,
            unit_kind=unit_kind_of(unit),
            months=[
                schemas.AnnualMonth(month=str(Month(year, m)), score=None) for m in range(1, 13)
            ],
            months_scored=0,
            score=None,
            rank=None,
        )


evaluation_service = EvaluationService()
