"""Every query of the evaluation domain: grouped SQL aggregates, never loops over fact rows.

Scorecards are built from five grouped queries over the facts, each riding one of the existing
indexes; each returns counts per ``(unit_code, bucket)``, where a bucket is a month of the
period asked for (one bucket for a monthly scorecard, twelve for the annual evaluation). Months
are bucketed with a portable ``CASE`` over the Asia/Shanghai month boundaries, so the same SQL
runs on PostgreSQL and SQLite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    case,
    cast,
    distinct,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from scoring_service.models import (
    CardFact,
    CaseFact,
    EvaluationPolicy,
    FigureDayTally,
    MonthlyScorecardClose,
    MonthlyScorecardSnapshot,
    ProjectFact,
    ProjectRating,
    Rating,
    RequestFact,
    UnitMonthTally,
    VisitFact,
)
from services.db import row_locks
from shared.enums import CardRole, CardStatus, SupervisionLevel

__all__ = [
    "FIGURE_FIELDS",
    "OPEN_CASE",
    "RESOLVED_CASE",
    "RETURN_WINDOW",
    "Buckets",
    "LocalMonths",
    "Periods",
    "ClosingRepository",
    "EvaluationRepository",
    "FigureCounts",
    "PolicyRepository",
    "ProjectFigures",
    "StatisticsRepository",
    "UnitCounts",
    "UnitRow",
    "VisitCounts",
]

# A card may be returned only within 2 working days of dispatch (DESIGN §3). The longest run of
# days off in the official schedule is 9, so a card returned in a month was dispatched at most
# 31 days before the month began: that bound lets the return count ride the dispatched_at index.
RETURN_WINDOW = timedelta(days=31)

_CLOSED_CARD = (CardStatus.returned.value, CardStatus.cancelled.value)
_RATED_ROLES = (CardRole.single.value, CardRole.lead.value)
# A project's agency step (代办事项) has its own rate; every other figure leaves steps out.
_STEP = CardRole.step.value


@dataclass
class UnitCounts:
    """Counts of one unit in one bucket (month); every rate is derived from these."""

    dispatched: int = 0
    sign_pending: int = 0
    signed_on_time: int = 0
    response_pending: int = 0
    responded: int = 0
    returned: int = 0
    due: int = 0
    due_pending: int = 0
    completed_on_time: int = 0
    red: int = 0
    listed: int = 0
    escalated: int = 0
    completed: int = 0
    redone: int = 0
    working_days_sum: int = 0
    working_days_count: int = 0
    ratings: int = 0
    satisfied: int = 0
    basic: int = 0
    unsatisfied: int = 0
    resolution_known: int = 0
    resolved: int = 0
    agency_due: int = 0
    agency_due_pending: int = 0
    agency_on_time: int = 0

    def add(self, row: Any) -> None:
        for field in fields(self):
            value = getattr(row, field.name, None)
            if value is not None:
                setattr(self, field.name, getattr(self, field.name) + int(value))


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str | None
    kind: str | None = None


@dataclass
class FigureCounts:
    """Public figures of one channel x topic group."""

    collected: int = 0
    resolved: int = 0
    in_progress: int = 0
    ratings: int = 0
    satisfied: int = 0
    basic: int = 0

    def add(self, other: FigureCounts) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


FIGURE_FIELDS = tuple(field.name for field in fields(FigureCounts))


@dataclass
class ProjectFigures:
    """The agency service (帮办代办) of a period, as counted by SQL."""

    served: dict[tuple[str, str], int] = dataclasses.field(
        default_factory=dict
    )  # (level, stage) → n
    started: int = 0
    continuing: int = 0
    completed: int = 0
    steps_done: int = 0
    steps_on_spot: int = 0
    steps_due: int = 0
    steps_due_pending: int = 0
    steps_on_time: int = 0
    measured: int = 0
    working_days_used: int = 0
    working_days_allowed: int = 0
    ratings: int = 0
    satisfied: int = 0
    basic: int = 0
    unsatisfied: int = 0


@dataclass(frozen=True)
class VisitCounts:
    enterprises: int = 0
    merchants: int = 0


def _bucket(column: Any, bounds: Sequence[datetime]) -> ColumnElement[Any]:
    """Which period of ``bounds`` (n+1 ascending instants, n periods) ``column`` falls in.

    Only meaningful for rows already restricted to ``bounds[0] <= column < bounds[-1]``.
    Literal integers (not bind parameters) keep PostgreSQL's type inference out of the way.
    """
    if len(bounds) == 2:
        return literal_column("0")
    whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [
        (column < bound, literal_column(str(i))) for i, bound in enumerate(bounds[1:-1])
    ]
    return case(*whens, else_=literal_column(str(len(bounds) - 2)))


def _within(column: Any, bounds: Sequence[datetime]) -> ColumnElement[bool]:
    return and_(column >= bounds[0], column < bounds[-1])


def _literal(value: str) -> ColumnElement[str]:
    """A constant inlined in the SQL (not a bind parameter), so that the planner can match a
    partial index's predicate under a generic plan too. Only for the enums' own values."""
    return literal_column(f"'{value}'")


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


class Buckets(Protocol):
    """How the count statements restrict and bucket their rows by a time column."""

    def within(self, column: Any) -> ColumnElement[bool]: ...

    def of(self, column: Any) -> ColumnElement[Any]: ...

    def dispatched_around(self, column: Any) -> ColumnElement[bool]: ...


@dataclass(frozen=True)
class Periods:
    """The periods delimited by ``bounds`` (n+1 ascending instants), bucketed 0..n-1."""

    bounds: Sequence[datetime]

    def within(self, column: Any) -> ColumnElement[bool]:
        return _within(column, self.bounds)

    def of(self, column: Any) -> ColumnElement[Any]:
        return _bucket(column, self.bounds)

    def dispatched_around(self, column: Any) -> ColumnElement[bool]:
        # A card returned in the periods was dispatched at most RETURN_WINDOW before them.
        return and_(column >= self.bounds[0] - RETURN_WINDOW, column < self.bounds[-1])


@dataclass(frozen=True)
class LocalMonths:
    """Every Asia/Shanghai month of the history, bucketed by its label (``YYYY-MM``): what a
    rebuild of the roll-ups counts."""

    dialect: str

    def within(self, column: Any) -> ColumnElement[bool]:
        present: ColumnElement[bool] = column.is_not(None)
        return present

    def of(self, column: Any) -> ColumnElement[Any]:
        return local_month_sql(column, self.dialect)

    def dispatched_around(self, column: Any) -> ColumnElement[bool]:
        return true()


def local_month_sql(column: Any, dialect: str) -> ColumnElement[str]:
    """``YYYY-MM`` of a UTC timestamp column in Asia/Shanghai (UTC+8 all year since 1992)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM")
    return func.strftime("%Y-%m", column, "+8 hours")


def local_day_sql(column: Any, dialect: str) -> ColumnElement[date]:
    """The Asia/Shanghai date of a UTC timestamp column."""
    if dialect == "postgresql":
        return cast(func.timezone("Asia/Shanghai", column), Date)
    return type_coerce(func.date(column, "+8 hours"), Date)


class EvaluationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> EvaluationRepository:
        return cls(session)

    def get_base_statement(self) -> Select[CardFact]:
        return select(CardFact)

    async def period_counts_from_facts(
        self, bounds: Sequence[datetime], now: datetime
    ) -> dict[tuple[str, int], UnitCounts]:
        """Counts per ``(unit_code, bucket)`` for the periods delimited by ``bounds``, counted
        over every fact of the periods (what the roll-ups must equal)."""
        result: dict[tuple[str, int], UnitCounts] = {}
        for statement in self.count_statements(Periods(bounds), now):
            for row in await self.session.execute(statement):
                key = (row.unit_code, int(row.bucket))
                result.setdefault(key, UnitCounts()).add(row)
        return result

    async def period_counts(
        self, bounds: Sequence[datetime], months: Sequence[str], now: datetime
    ) -> dict[tuple[str, int], UnitCounts]:
        """Counts per ``(unit_code, bucket)`` for ``months`` (``YYYY-MM``, the periods that
        ``bounds`` delimits): the decided counts from the monthly roll-ups, the undecided
        ones (still within their time, or suspended) counted live over the open cards. From
        the facts while the roll-ups are not built yet."""
        from scoring_service.evaluation import tallies

        if not await tallies.ready(self.session):
            return await self.period_counts_from_facts(bounds, now)
        index = {month: i for i, month in enumerate(months)}
        result: dict[tuple[str, int], UnitCounts] = {}
        rolled = select(UnitMonthTally).where(UnitMonthTally.month.in_(months))
        for tally in await self.session.scalars(rolled):
            result.setdefault((tally.unit_code, index[tally.month]), UnitCounts()).add(tally)
        for statement in self._pending_statements(Periods(bounds), now):
            for row in await self.session.execute(statement):
                key = (row.unit_code, int(row.bucket))
                result.setdefault(key, UnitCounts()).add(row)
        return result

    def _pending_statements(self, periods: Buckets, now: datetime) -> list[Select[Any]]:
        """The counts that depend on the clock, over the undecided cards only: each WHERE
        implies one of the partial indexes on ``card_fact`` (unsigned, not contacted, not
        submitted), whose rows are the work in hand, not the history. The same rules as the
        dispatch and due statements."""
        regular = CardFact.role != _STEP
        suspended = CardFact.status == _literal(CardStatus.suspended.value)
        unsigned = (
            select(CardFact.unit_code, periods.of(CardFact.dispatched_at).label("bucket"))
            .where(
                CardFact.signed_at.is_(None),
                CardFact.status.in_(
                    [_literal(CardStatus.dispatched.value), _literal(CardStatus.suspended.value)]
                ),
                periods.within(CardFact.dispatched_at),
                regular,
                or_(suspended, CardFact.sign_due_at > now),
            )
            .subquery()
        )
        # Signed on time, not contacted yet, still within the contact time.
        uncontacted = (
            select(CardFact.unit_code, periods.of(CardFact.dispatched_at).label("bucket"))
            .where(
                CardFact.first_contact_at.is_(None),
                CardFact.signed_at.is_not(None),
                CardFact.contact_due_at > now,
                CardFact.signed_at <= CardFact.sign_due_at,
                periods.within(CardFact.dispatched_at),
                regular,
            )
            .subquery()
        )
        unsubmitted = (
            select(CardFact.unit_code, CardFact.role, periods.of(CardFact.due_at).label("bucket"))
            .where(
                CardFact.submitted_at.is_(None),
                CardFact.status.not_in([_literal(status) for status in _CLOSED_CARD]),
                periods.within(CardFact.due_at),
                or_(suspended, CardFact.due_at > now),
            )
            .subquery()
        )
        step = unsubmitted.c.role == _STEP
        return [
            select(
                unsigned.c.unit_code,
                unsigned.c.bucket,
                func.count().label("sign_pending"),
                func.count().label("response_pending"),
            ).group_by(unsigned.c.unit_code, unsigned.c.bucket),
            select(
                uncontacted.c.unit_code,
                uncontacted.c.bucket,
                func.count().label("response_pending"),
            ).group_by(uncontacted.c.unit_code, uncontacted.c.bucket),
            select(
                unsubmitted.c.unit_code,
                unsubmitted.c.bucket,
                _count(not_(step)).label("due_pending"),
                _count(step).label("agency_due_pending"),
            ).group_by(unsubmitted.c.unit_code, unsubmitted.c.bucket),
        ]

    def count_statements(self, periods: Buckets, now: datetime) -> list[Select[Any]]:
        """The five grouped queries, each returning counts per ``(unit_code, bucket)``."""
        return [
            self._dispatch_statement(periods, now),
            self._return_statement(periods),
            self._due_statement(periods, now),
            self._approved_statement(periods),
            self._rating_statement(periods),
        ]

    def _dispatch_statement(self, periods: Buckets, now: datetime) -> Select[Any]:
        # Cohort: cards dispatched in the period, except those cancelled before anyone signed
        # them (the center withdrew the dispatch; the unit never had the card to act on).
        c = (
            select(
                CardFact.unit_code,
                CardFact.status,
                CardFact.sign_due_at,
                CardFact.signed_at,
                CardFact.contact_due_at,
                CardFact.first_contact_at,
                periods.of(CardFact.dispatched_at).label("bucket"),
            )
            .where(
                periods.within(CardFact.dispatched_at),
                CardFact.role != _STEP,
                not_(
                    and_(
                        CardFact.status == CardStatus.cancelled.value, CardFact.signed_at.is_(None)
                    )
                ),
            )
            .subquery()
        )
        signed_on_time = and_(c.c.signed_at.is_not(None), c.c.signed_at <= c.c.sign_due_at)
        # Not signed yet and still within time (or suspended: the clock is paused): undecided.
        sign_pending = and_(
            c.c.signed_at.is_(None),
            or_(
                c.c.status == CardStatus.suspended.value,
                and_(c.c.status == CardStatus.dispatched.value, c.c.sign_due_at > now),
            ),
        )
        contacted_on_time = and_(
            c.c.first_contact_at.is_not(None),
            c.c.contact_due_at.is_not(None),
            c.c.first_contact_at <= c.c.contact_due_at,
        )
        contact_pending = and_(
            signed_on_time, c.c.first_contact_at.is_(None), c.c.contact_due_at > now
        )
        return select(
            c.c.unit_code,
            c.c.bucket,
            func.count().label("dispatched"),
            _count(sign_pending).label("sign_pending"),
            _count(signed_on_time).label("signed_on_time"),
            _count(or_(sign_pending, contact_pending)).label("response_pending"),
            _count(and_(signed_on_time, contacted_on_time)).label("responded"),
        ).group_by(c.c.unit_code, c.c.bucket)

    def _return_statement(self, periods: Buckets) -> Select[Any]:
        c = (
            select(CardFact.unit_code, periods.of(CardFact.returned_at).label("bucket"))
            .where(
                periods.dispatched_around(CardFact.dispatched_at),
                periods.within(CardFact.returned_at),
                CardFact.role != _STEP,
            )
            .subquery()
        )
        return select(c.c.unit_code, c.c.bucket, func.count().label("returned")).group_by(
            c.c.unit_code, c.c.bucket
        )

    def _due_statement(self, periods: Buckets, now: datetime) -> Select[Any]:
        c = (
            select(
                CardFact.unit_code,
                CardFact.role,
                CardFact.status,
                CardFact.due_at,
                CardFact.submitted_at,
                CardFact.supervision_level,
                CardFact.listed,
                periods.of(CardFact.due_at).label("bucket"),
            )
            .where(periods.within(CardFact.due_at), CardFact.status.not_in(_CLOSED_CARD))
            .subquery()
        )
        # due_at already carries an approved extension, so finishing before it is on time.
        on_time = and_(c.c.submitted_at.is_not(None), c.c.submitted_at <= c.c.due_at)
        pending = and_(
            c.c.submitted_at.is_(None),
            or_(c.c.status == CardStatus.suspended.value, c.c.due_at > now),
        )
        # Each card is deducted once, at the highest step of the ladder it reached.
        escalated = c.c.supervision_level == SupervisionLevel.escalated.value
        listed = and_(
            not_(escalated),
            or_(c.c.supervision_level == SupervisionLevel.listed.value, c.c.listed.is_(True)),
        )
        red = and_(c.c.supervision_level == SupervisionLevel.red.value, not_(c.c.listed.is_(True)))
        # Steps are due like any card and judged by the same rules, but only for their own rate.
        step = c.c.role == _STEP
        regular = c.c.role != _STEP
        return select(
            c.c.unit_code,
            c.c.bucket,
            _count(regular).label("due"),
            _count(and_(regular, pending)).label("due_pending"),
            _count(and_(regular, on_time)).label("completed_on_time"),
            _count(and_(regular, red)).label("red"),
            _count(and_(regular, listed)).label("listed"),
            _count(and_(regular, escalated)).label("escalated"),
            _count(step).label("agency_due"),
            _count(and_(step, pending)).label("agency_due_pending"),
            _count(and_(step, on_time)).label("agency_on_time"),
        ).group_by(c.c.unit_code, c.c.bucket)

    def _approved_statement(self, periods: Buckets) -> Select[Any]:
        c = (
            select(
                CardFact.unit_code,
                CardFact.redo_count,
                CardFact.working_days_taken,
                periods.of(CardFact.approved_at).label("bucket"),
            )
            .where(periods.within(CardFact.approved_at), CardFact.role != _STEP)
            .subquery()
        )
        return select(
            c.c.unit_code,
            c.c.bucket,
            func.count().label("completed"),
            _count(c.c.redo_count > 0).label("redone"),
            func.sum(c.c.working_days_taken).label("working_days_sum"),
            func.count(c.c.working_days_taken).label("working_days_count"),
        ).group_by(c.c.unit_code, c.c.bucket)

    def _rating_statement(self, periods: Buckets) -> Select[Any]:
        # A rating counts for the unit that held the case alone or as lead: co-handlers are not
        # rated, and a unit that returned the case (or whose card was cancelled) never handled
        # it. A case has at most one such card (one sole handler, or one lead), so a correlated
        # lookup on card_fact.case_id finds it: index probes per rating of the month, where a
        # join is planned as a hash over every card (measured 2-3x slower at a million cards).
        rated_unit = (
            select(CardFact.unit_code)
            .where(
                CardFact.case_id == Rating.case_id,
                CardFact.role.in_(_RATED_ROLES),
                CardFact.status.not_in(_CLOSED_CARD),
            )
            .order_by(CardFact.card_id)  # the first, should a case break the rule
            .limit(1)
            .correlate(Rating)
            .scalar_subquery()
        )
        c = (
            select(
                rated_unit.label("unit_code"),
                Rating.satisfaction,
                Rating.resolved,
                periods.of(Rating.rated_at).label("bucket"),
            )
            .where(periods.within(Rating.rated_at))
            .subquery()
        )
        return (
            select(
                c.c.unit_code,
                c.c.bucket,
                func.count().label("ratings"),
                _count(c.c.satisfaction == "satisfied").label("satisfied"),
                _count(c.c.satisfaction == "basic").label("basic"),
                _count(c.c.satisfaction == "unsatisfied").label("unsatisfied"),
                _count(c.c.resolved.is_not(None)).label("resolution_known"),
                _count(c.c.resolved.is_(True)).label("resolved"),
            )
            .where(c.c.unit_code.is_not(None))
            .group_by(c.c.unit_code, c.c.bucket)
        )

    async def units(self, before: datetime) -> list[UnitRow]:
        """Every unit that had a card dispatched before ``before``, with its latest name.

        The unit codes come from a loose index scan (a recursive CTE hopping along the
        ``(unit_code, dispatched_at)`` index), so listing 100 units over a million cards costs
        about 100 index probes instead of a scan.
        """
        codes = select(func.min(CardFact.unit_code).label("code")).cte("unit_codes", recursive=True)
        following = (
            select(func.min(CardFact.unit_code))
            .where(CardFact.unit_code > codes.c.code)
            .scalar_subquery()
        )
        codes = codes.union_all(select(following).where(codes.c.code.is_not(None)))
        first = (
            select(func.min(CardFact.dispatched_at))
            .where(CardFact.unit_code == codes.c.code)
            .scalar_subquery()
        )

        def latest(column: Any) -> Any:
            return (
                select(column)
                .where(CardFact.unit_code == codes.c.code)
                .order_by(CardFact.dispatched_at.desc())
                .limit(1)
                .scalar_subquery()
            )

        statement = (
            select(
                codes.c.code,
                latest(CardFact.unit_name).label("name"),
                latest(CardFact.unit_kind).label("kind"),
            )
            .where(codes.c.code.is_not(None), first < before)
            .order_by(codes.c.code)
        )
        return [
            UnitRow(row.code, row.name, row.kind) for row in await self.session.execute(statement)
        ]

    async def unit(self, code: str) -> UnitRow | None:
        """The unit if it ever appeared in the facts (a card, or as a case's owner)."""
        latest = (
            await self.session.execute(
                select(CardFact.unit_name, CardFact.unit_kind)
                .where(CardFact.unit_code == code)
                .order_by(CardFact.dispatched_at.desc())
                .limit(1)
            )
        ).first()
        if latest is not None:
            return UnitRow(code, latest.unit_name, latest.unit_kind)
        owner = await self.session.scalar(
            select(CaseFact.case_id).where(CaseFact.owner_unit_code == code).limit(1)
        )
        return UnitRow(code, None) if owner is not None else None


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PolicyRepository:
        return cls(session)

    def get_base_statement(self) -> Select[EvaluationPolicy]:
        return select(EvaluationPolicy)

    async def in_force(self, month: str) -> EvaluationPolicy | None:
        """The newest policy effective on or before ``month`` (``YYYY-MM`` sorts as text)."""
        statement = (
            self.get_base_statement()
            .where(EvaluationPolicy.effective_month <= month)
            .order_by(EvaluationPolicy.effective_month.desc())
            .limit(1)
        )
        return await self.session.scalar(statement)

    async def up_to(self, month: str) -> Sequence[EvaluationPolicy]:
        statement = (
            self.get_base_statement()
            .where(EvaluationPolicy.effective_month <= month)
            .order_by(EvaluationPolicy.effective_month)
        )
        return (await self.session.scalars(statement)).all()

    async def get(self, month: str) -> EvaluationPolicy | None:
        return await self.session.scalar(
            self.get_base_statement().where(EvaluationPolicy.effective_month == month)
        )

    async def add(self, policy: EvaluationPolicy) -> EvaluationPolicy:
        self.session.add(policy)
        await self.session.flush()
        return policy


class ClosingRepository:
    """Closed months: their versions and the scorecards frozen in each."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ClosingRepository:
        return cls(session)

    async def current(self, month: str, *, lock: bool = False) -> MonthlyScorecardClose | None:
        """The version a closed month serves (its newest); ``lock`` holds it (PostgreSQL) so
        that recomputes of one month run one after the other."""
        statement = (
            select(MonthlyScorecardClose)
            .where(MonthlyScorecardClose.month == month)
            .order_by(MonthlyScorecardClose.version.desc())
            .limit(1)
        )
        if lock and row_locks(self.session):
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def last_version(self, month: str) -> int:
        """Read after :meth:`current` with ``lock``: sees a version committed while waiting."""
        found = await self.session.scalar(
            select(func.max(MonthlyScorecardClose.version)).where(
                MonthlyScorecardClose.month == month
            )
        )
        return int(found or 0)

    async def versions(self, month: str) -> Sequence[MonthlyScorecardClose]:
        statement = (
            select(MonthlyScorecardClose)
            .where(MonthlyScorecardClose.month == month)
            .order_by(MonthlyScorecardClose.version)
        )
        return (await self.session.scalars(statement)).all()

    async def snapshots(
        self, month: str, version: int, unit_code: str | None = None
    ) -> Sequence[MonthlyScorecardSnapshot]:
        statement = select(MonthlyScorecardSnapshot).where(
            MonthlyScorecardSnapshot.month == month, MonthlyScorecardSnapshot.version == version
        )
        if unit_code is not None:
            statement = statement.where(MonthlyScorecardSnapshot.unit_code == unit_code)
        return (
            await self.session.scalars(statement.order_by(MonthlyScorecardSnapshot.unit_code))
        ).all()

    async def scores(self, month: str) -> dict[int, dict[str, float | None]]:
        """Each version's scores per unit (the history shows what a recompute changed)."""
        statement = select(
            MonthlyScorecardSnapshot.version,
            MonthlyScorecardSnapshot.unit_code,
            MonthlyScorecardSnapshot.score,
        ).where(MonthlyScorecardSnapshot.month == month)
        result: dict[int, dict[str, float | None]] = {}
        for row in await self.session.execute(statement):
            result.setdefault(int(row.version), {})[row.unit_code] = row.score
        return result

    async def current_scores(self, months: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """For each closed month among ``months``, the scores of its current version."""
        newest = (
            select(
                MonthlyScorecardClose.month,
                func.max(MonthlyScorecardClose.version).label("version"),
            )
            .where(MonthlyScorecardClose.month.in_(months))
            .group_by(MonthlyScorecardClose.month)
            .subquery()
        )
        statement = select(
            newest.c.month, MonthlyScorecardSnapshot.unit_code, MonthlyScorecardSnapshot.score
        ).outerjoin(
            MonthlyScorecardSnapshot,
            and_(
                MonthlyScorecardSnapshot.month == newest.c.month,
                MonthlyScorecardSnapshot.version == newest.c.version,
            ),
        )
        result: dict[str, dict[str, float | None]] = {}
        for row in await self.session.execute(statement):
            scores = result.setdefault(row.month, {})
            if row.unit_code is not None:  # a month closed with no unit at all
                scores[row.unit_code] = row.score
        return result

    async def add(
        self, close: MonthlyScorecardClose, snapshots: Sequence[MonthlyScorecardSnapshot]
    ) -> MonthlyScorecardClose:
        # The version row first: the snapshots reference it. A concurrent close of the same
        # month fails here on the unique (month, version) and answers 409 conflict_retry.
        self.session.add(close)
        await self.session.flush()
        self.session.add_all(snapshots)
        await self.session.flush()
        return close


RESOLVED_CASE = ("completed", "closed", "answered")
# Transferred cases are being handled by the discipline commission: still open.
OPEN_CASE = (
    "pending_verification",
    "awaiting_dispatch",
    "dispatched",
    "in_progress",
    "transferred",
)


class StatisticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> StatisticsRepository:
        return cls(session)

    async def visits(
        self, start: date, end: date, channels: Sequence[str] | None = None
    ) -> VisitCounts:
        """Distinct enterprises and merchants visited (a target visited twice counts once)."""
        statement = (
            select(VisitFact.target_kind, func.count(distinct(VisitFact.target_key)).label("n"))
            .where(VisitFact.visited_on >= start, VisitFact.visited_on <= end)
            .group_by(VisitFact.target_kind)
        )
        if channels is not None:
            statement = statement.where(VisitFact.channel.in_(channels))
        counts = {row.target_kind: int(row.n) for row in await self.session.execute(statement)}
        return VisitCounts(counts.get("enterprise", 0), counts.get("merchant", 0))

    async def visits_by_channel(self, start: date, end: date) -> dict[str, VisitCounts]:
        statement = (
            select(
                VisitFact.channel,
                func.count(distinct(VisitFact.target_key))
                .filter(VisitFact.target_kind == "enterprise")
                .label("enterprises"),
                func.count(distinct(VisitFact.target_key))
                .filter(VisitFact.target_kind == "merchant")
                .label("merchants"),
            )
            .where(VisitFact.visited_on >= start, VisitFact.visited_on <= end)
            .group_by(VisitFact.channel)
        )
        return {
            row.channel: VisitCounts(int(row.enterprises), int(row.merchants))
            for row in await self.session.execute(statement)
        }

    async def figures(
        self, since: datetime, until: datetime
    ) -> dict[tuple[str, str, bool], FigureCounts]:
        """Figures per ``(channel, topic, service item?)`` for requests received in
        ``[since, until)`` (both Asia/Shanghai midnights), summed from the daily roll-ups; from
        the facts while the roll-ups are not built yet."""
        from scoring_service.evaluation import tallies

        if not await tallies.ready(self.session):
            return await self.figures_from_facts(since, until)
        statement = (
            select(
                FigureDayTally.channel,
                FigureDayTally.topic,
                FigureDayTally.service,
                *(func.sum(getattr(FigureDayTally, name)).label(name) for name in FIGURE_FIELDS),
            )
            .where(
                FigureDayTally.day >= tallies.local_day(since),
                FigureDayTally.day < tallies.local_day(until),
            )
            .group_by(FigureDayTally.channel, FigureDayTally.topic, FigureDayTally.service)
        )
        return {
            (row.channel, row.topic, bool(row.service)): FigureCounts(
                **{name: int(getattr(row, name) or 0) for name in FIGURE_FIELDS}
            )
            for row in await self.session.execute(statement)
        }

    async def figures_from_facts(
        self, since: datetime, until: datetime
    ) -> dict[tuple[str, str, bool], FigureCounts]:
        """:meth:`figures` counted over every fact of the period (what the roll-ups equal)."""
        counted = await self.figure_counts(
            lambda column: and_(column >= since, column < until), None
        )
        return {key[1:]: counts for key, counts in counted.items()}

    async def figure_counts(
        self, received: Callable[[Any], ColumnElement[bool]], day_of: str | None
    ) -> dict[tuple[date | None, str, str, bool], FigureCounts]:
        """Figures per ``(day, channel, topic, service item?)`` of the requests whose receipt
        time passes ``received``; ``day_of`` (a dialect name) groups them by their
        Asia/Shanghai day as well (the roll-ups' rebuild), else the day is None.

        Consultations (咨询) are service items (办件), the rest issues (问题). Collected counts
        every request that is not a duplicate; resolved / in progress are the current status of
        those requests' cases; ratings are each case's final rating (its highest round), so a
        case rated unsatisfied, redone and then rated satisfied counts once, as satisfied.
        """
        result: dict[tuple[date | None, str, str, bool], FigureCounts] = {}

        def day(column: Any) -> ColumnElement[Any]:
            if day_of is None:
                return literal_column("NULL").label("day")
            return local_day_sql(column, day_of).label("day")

        def slot(row: Any) -> FigureCounts:
            when = None
            if day_of is not None:  # SQLite answers the date as text
                when = row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day))
            return result.setdefault(
                (when, row.channel, row.topic, bool(row.service)), FigureCounts()
            )

        def grouped(day_column: Any, *columns: Any) -> list[Any]:
            return [day_column, *columns] if day_of is not None else list(columns)

        request_day = day(RequestFact.received_at)
        request_service = (RequestFact.type == "consult").label("service")
        collected = (
            select(
                request_day,
                RequestFact.channel,
                RequestFact.topic,
                request_service,
                func.count().label("n"),
            )  # fmt: skip
            .where(received(RequestFact.received_at), RequestFact.duplicate.is_(False))
            .group_by(
                *grouped(request_day, RequestFact.channel, RequestFact.topic, request_service)
            )  # fmt: skip
        )
        for row in await self.session.execute(collected):
            slot(row).collected = int(row.n)

        case_day = day(CaseFact.received_at)
        case_service = (CaseFact.type == "consult").label("service")
        cases = (
            select(
                case_day,
                CaseFact.channel,
                CaseFact.topic,
                case_service,
                _count(CaseFact.status.in_(RESOLVED_CASE)).label("resolved"),
                _count(CaseFact.status.in_(OPEN_CASE)).label("in_progress"),
            )
            .where(received(CaseFact.received_at))
            .group_by(*grouped(case_day, CaseFact.channel, CaseFact.topic, case_service))
        )
        for case_row in await self.session.execute(cases):
            figures = slot(case_row)
            figures.resolved = int(case_row.resolved)
            figures.in_progress = int(case_row.in_progress)

        later = aliased(Rating)
        superseded = (
            select(later.id)
            .where(later.case_id == Rating.case_id, later.round > Rating.round)
            .exists()
        )
        ratings = (
            select(
                case_day,
                CaseFact.channel,
                CaseFact.topic,
                case_service,
                func.count().label("ratings"),
                _count(Rating.satisfaction == "satisfied").label("satisfied"),
                _count(Rating.satisfaction == "basic").label("basic"),
            )
            .join(Rating, Rating.case_id == CaseFact.case_id)
            .where(received(CaseFact.received_at), not_(superseded))
            .group_by(*grouped(case_day, CaseFact.channel, CaseFact.topic, case_service))
        )
        for rating_row in await self.session.execute(ratings):
            figures = slot(rating_row)
            figures.ratings = int(rating_row.ratings)
            figures.satisfied = int(rating_row.satisfied)
            figures.basic = int(rating_row.basic)
        return result

    async def projects(
        self, start: date, end: date, since: datetime, until: datetime, now: datetime
    ) -> ProjectFigures:
        """The agency figures of the days ``start``..``end`` (``[since, until)`` as instants).

        Every count but one is an index range on the date it filters by. Projects served are
        those created before ``until`` and not terminated before ``start``: a count over the
        projects created so far (a few thousand at most), grouped by level and current stage.
        """
        result = ProjectFigures()
        served = (
            select(ProjectFact.level, ProjectFact.stage, func.count().label("n"))
            .where(
                ProjectFact.created_at < until,
                or_(ProjectFact.terminated_on.is_(None), ProjectFact.terminated_on >= start),
            )
            .group_by(ProjectFact.level, ProjectFact.stage)
        )
        for row in await self.session.execute(served):
            result.served[(row.level, row.stage)] = int(row.n)

        def reached(column: Any) -> Any:
            return (
                select(func.count())
                .select_from(ProjectFact)
                .where(column >= start, column <= end)
                .scalar_subquery()
            )

        stages = (
            await self.session.execute(
                select(
                    reached(ProjectFact.started_on).label("started"),
                    reached(ProjectFact.continuing_on).label("continuing"),
                    reached(ProjectFact.completed_on).label("completed"),
                )
            )
        ).one()
        result.started, result.continuing, result.completed = (
            int(stages.started), int(stages.continuing), int(stages.completed)
        )  # fmt: skip

        # Steps done in the period: approved in it (the approved_at index), with the time they
        # took against their legal limit where both are known.
        known = and_(CardFact.working_days_taken.is_not(None), CardFact.limit_days.is_not(None))
        done = (
            await self.session.execute(
                select(
                    func.count().label("done"),
                    _count(CardFact.on_spot.is_(True)).label("on_spot"),
                    _count(known).label("measured"),
                    func.sum(CardFact.working_days_taken).filter(known).label("used"),
                    func.sum(CardFact.limit_days).filter(known).label("allowed"),
                ).where(
                    CardFact.role == _literal(_STEP), _within(CardFact.approved_at, (since, until))
                )
            )
        ).one()
        result.steps_done, result.steps_on_spot, result.measured = (
            int(done.done), int(done.on_spot), int(done.measured)
        )  # fmt: skip
        result.working_days_used = int(done.used or 0)
        result.working_days_allowed = int(done.allowed or 0)

        # On time: the scorecard's rule over the steps due in the period (the due_at index).
        on_time = and_(CardFact.submitted_at.is_not(None), CardFact.submitted_at <= CardFact.due_at)
        pending = and_(
            CardFact.submitted_at.is_(None),
            or_(CardFact.status == CardStatus.suspended.value, CardFact.due_at > now),
        )
        due = (
            await self.session.execute(
                select(
                    func.count().label("due"),
                    _count(pending).label("pending"),
                    _count(on_time).label("on_time"),
                ).where(
                    CardFact.role == _literal(_STEP),  # the partial index of steps
                    _within(CardFact.due_at, (since, until)),
                    CardFact.status.not_in(_CLOSED_CARD),
                )
            )
        ).one()
        result.steps_due, result.steps_due_pending, result.steps_on_time = (
            int(due.due), int(due.pending), int(due.on_time)
        )  # fmt: skip

        rated = (
            await self.session.execute(
                select(
                    func.count().label("ratings"),
                    _count(ProjectRating.satisfaction == "satisfied").label("satisfied"),
                    _count(ProjectRating.satisfaction == "basic").label("basic"),
                    _count(ProjectRating.satisfaction == "unsatisfied").label("unsatisfied"),
                ).where(_within(ProjectRating.rated_at, (since, until)))
            )
        ).one()
        result.ratings, result.satisfied, result.basic, result.unsatisfied = (
            int(rated.ratings), int(rated.satisfied), int(rated.basic), int(rated.unsatisfied)
        )  # fmt: skip
        return result
