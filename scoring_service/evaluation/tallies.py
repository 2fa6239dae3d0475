"""The roll-ups behind the scorecards and the public statistics, kept exact by the events.

Every write of a fact (a card, a case, a request, a rating) adds what the fact now counts and
takes away what it counted before, in the same transaction: the changes of a transaction are
summed in ``session.info`` and written just before it commits, as one upsert per roll-up table
with its keys in order (so two transactions cannot deadlock on them). A rolled-back
transaction takes its changes with it.

The rules mirror the grouped SQL of :mod:`scoring_service.evaluation.repository`, which stays
the reference: a rebuild recomputes the roll-ups with it (in one transaction that holds the
roll-up tables, so no event's change is lost or counted twice), and :func:`check` compares
months against it and repairs them (the nightly ``scoring.check_tallies``).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import structlog
from sqlalchemy import delete, event, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from scoring_service.evaluation.repository import (
    FIGURE_FIELDS,
    OPEN_CASE,
    RESOLVED_CASE,
    EvaluationRepository,
    LocalMonths,
    Periods,
    StatisticsRepository,
)
from scoring_service.evaluation.service import Month
from scoring_service.models import (
    CardFact,
    CaseFact,
    FigureDayTally,
    Rating,
    RequestFact,
    TallyState,
    UnitMonthTally,
)
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import CardRole, CardStatus, SupervisionLevel

log = structlog.get_logger(__name__)

UNIT_FIELDS = tuple(
    column.key for column in UnitMonthTally.__table__.columns if not column.primary_key
)
_UNIT_KEY = ("unit_code", "month")
_FIGURE_KEY = ("day", "channel", "topic", "service")

_CLOSED_CARD = (CardStatus.returned.value, CardStatus.cancelled.value)
_RATED_ROLES = (CardRole.single.value, CardRole.lead.value)
_STEP = CardRole.step.value
_CHANGES = "tally_changes"

# What a card, case or rating counts: (roll-up key) → counter → amount.
Counts = dict[tuple[Any, ...], Counter[str]]


def local_month(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


def local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def view(row: Any, model: Any) -> SimpleNamespace:
    """A copy of a fact's columns as they are now, to count what it counted before a change."""
    return SimpleNamespace(**{key: getattr(row, key) for key in model.__table__.columns.keys()})


# ---------------------------------------------------------------------- what a fact counts


def _bump(counts: Counts, key: tuple[Any, ...], **amounts: int | bool) -> None:
    counter = counts.setdefault(key, Counter())
    for name, amount in amounts.items():
        counter[name] += int(amount)


def card_counts(card: Any) -> Counts:
    """The decided counts of one card (the rules of the dispatch, return, due and approval
    statements; what depends on the clock is counted live)."""
    counts: Counts = {}
    regular = card.role != _STEP
    unit = card.unit_code
    if regular and not (card.status == CardStatus.cancelled.value and card.signed_at is None):
        signed_on_time = card.signed_at is not None and card.signed_at <= card.sign_due_at
        contacted_on_time = (
            card.first_contact_at is not None
            and card.contact_due_at is not None
            and card.first_contact_at <= card.contact_due_at
        )
        _bump(counts, (unit, local_month(card.dispatched_at)), dispatched=1,
              signed_on_time=signed_on_time, responded=signed_on_time and contacted_on_time)  # fmt: skip
    if regular and card.returned_at is not None:
        _bump(counts, (unit, local_month(card.returned_at)), returned=1)
    if card.status not in _CLOSED_CARD:
        on_time = card.submitted_at is not None and card.submitted_at <= card.due_at
        due_month = (unit, local_month(card.due_at))
        if regular:
            escalated = card.supervision_level == SupervisionLevel.escalated.value
            listed = not escalated and (
                card.supervision_level == SupervisionLevel.listed.value or card.listed is True
            )
            red = card.supervision_level == SupervisionLevel.red.value and card.listed is not True
            _bump(counts, due_month, due=1, completed_on_time=on_time, red=red, listed=listed,
                  escalated=escalated)  # fmt: skip
        else:
            _bump(counts, due_month, agency_due=1, agency_on_time=on_time)
    if regular and card.approved_at is not None:
        taken = card.working_days_taken
        _bump(counts, (unit, local_month(card.approved_at)), completed=1,
              redone=card.redo_count > 0, working_days_sum=taken or 0,
              working_days_count=taken is not None)  # fmt: skip
    return counts


def rating_counts(unit_code: str | None, ratings: Iterable[Any]) -> Counts:
    """Ratings count for the unit that held the case alone or as lead, in the month rated."""
    counts: Counts = {}
    if unit_code is None:
        return counts
    for rating in ratings:
        _bump(counts, (unit_code, local_month(rating.rated_at)), ratings=1,
              satisfied=rating.satisfaction == "satisfied", basic=rating.satisfaction == "basic",
              unsatisfied=rating.satisfaction == "unsatisfied",
              resolution_known=rating.resolved is not None, resolved=rating.resolved is True)  # fmt: skip
    return counts


def _figure_key(fact: Any) -> tuple[Any, ...]:
    return (local_day(fact.received_at), fact.channel, fact.topic, fact.type == "consult")


def request_counts(request: Any) -> Counts:
    counts: Counts = {}
    if not request.duplicate:
        _bump(counts, _figure_key(request), collected=1)
    return counts


def case_counts(case: Any, final_rating: Any | None) -> Counts:
    """The public figures of one case: its current state and its final rating."""
    counts: Counts = {}
    key = _figure_key(case)
    _bump(counts, key, resolved=case.status in RESOLVED_CASE, in_progress=case.status in OPEN_CASE)
    if final_rating is not None:
        _bump(counts, key, ratings=1, satisfied=final_rating.satisfaction == "satisfied",
              basic=final_rating.satisfaction == "basic")  # fmt: skip
    return counts


def rated_unit(cards: Iterable[Any]) -> str | None:
    """The unit a case's ratings count for: its first card (by id) held alone or as lead and
    neither returned nor cancelled (the rating statement's rule)."""
    eligible = sorted(
        (card.card_id, card.unit_code)
        for card in cards
        if card.role in _RATED_ROLES and card.status not in _CLOSED_CARD
    )
    return eligible[0][1] if eligible else None


# ---------------------------------------------------------------------- changes of a transaction


def _changes(session: AsyncSession | Session) -> dict[str, Counts]:
    changes: dict[str, Counts] = session.info.setdefault(_CHANGES, {"unit": {}, "figure": {}})
    return changes


def _add(session: AsyncSession, table: str, counts: Counts, sign: int) -> None:
    pending = _changes(session)[table]
    for key, counter in counts.items():
        into = pending.setdefault(key, Counter())
        for name, amount in counter.items():
            into[name] += sign * amount


def _move(session: AsyncSession, table: str, before: Counts, after: Counts) -> None:
    _add(session, table, before, -1)
    _add(session, table, after, +1)


# The services' sessions do not autoflush: both lookups flush first, so that they see the
# cards and ratings this transaction wrote before them (an earlier event of the same group).


async def _case_cards(session: AsyncSession, case_id: Any) -> list[Any]:
    await session.flush()
    rows = await session.execute(
        select(CardFact.card_id, CardFact.unit_code, CardFact.role, CardFact.status).where(
            CardFact.case_id == case_id
        )
    )
    return list(rows)


async def _ratings(session: AsyncSession, case_id: Any) -> list[Any]:
    await session.flush()
    rows = await session.execute(
        select(Rating.round, Rating.satisfaction, Rating.resolved, Rating.rated_at)
        .where(Rating.case_id == case_id)
        .order_by(Rating.round)
    )
    return list(rows)


def _rated_key(card: Any) -> tuple[bool, str]:
    return (card.role in _RATED_ROLES and card.status not in _CLOSED_CARD, card.unit_code)


async def card_changed(session: AsyncSession, before: Any | None, card: CardFact) -> None:
    """A card fact was written (``before``: its columns before, None if new)."""
    _move(session, "unit", card_counts(before) if before is not None else {}, card_counts(card))
    # The case's ratings follow its sole handler or lead: only a card that became or stopped
    # being one (or moved unit as one) can move them, and only a rated case has any.
    if (_rated_key(before) if before is not None else (False, "")) == _rated_key(card):
        return
    ratings = await _ratings(session, card.case_id)
    if not ratings:
        return
    now_cards = await _case_cards(session, card.case_id)  # includes this change
    earlier = [c for c in now_cards if c.card_id != card.card_id]
    if before is not None:
        earlier.append(before)
    was, now = rated_unit(earlier), rated_unit(now_cards)
    if was != now:
        _move(session, "unit", rating_counts(was, ratings), rating_counts(now, ratings))


async def case_changed(session: AsyncSession, before: Any | None, case: CaseFact) -> None:
    """A case fact was written: its state counts where it was received; its final rating
    moves with it only if it moved (a reclassified topic or type)."""
    final = None
    if before is not None and _figure_key(before) != _figure_key(case):
        ratings = await _ratings(session, case.case_id)
        final = ratings[-1] if ratings else None
    _move(session, "figure", case_counts(before, final) if before is not None else {},
          case_counts(case, final))  # fmt: skip


def request_recorded(session: AsyncSession, request: RequestFact) -> None:
    _add(session, "figure", request_counts(request), +1)


async def rating_recorded(session: AsyncSession, case: CaseFact, rating: Rating) -> None:
    """A new round's rating: it counts for the case's handler in the month rated, and becomes
    the case's final rating in the public figures (replacing the round before)."""
    ratings = await _ratings(session, case.case_id)  # includes this rating
    earlier = [r for r in ratings if r.round < rating.round]
    unit = rated_unit(await _case_cards(session, case.case_id))
    _add(session, "unit", rating_counts(unit, [rating]), +1)
    previous = earlier[-1] if earlier else None  # rounds only grow: this one is final now
    _move(session, "figure", case_counts(case, previous), case_counts(case, rating))


def _upsert(session: Session, model: Any, key: Sequence[str], changes: Counts) -> None:
    fields = UNIT_FIELDS if model is UnitMonthTally else FIGURE_FIELDS
    rows = _rows(changes, key, fields)
    if not rows:
        return
    # The rows as executemany parameters of one statement: compiled once, not per row count
    # (a multi-row VALUES was compiled afresh on every commit: 5 % of the scoring worker).
    session.execute(_upsert_statement(model, key, fields, session.get_bind().dialect.name), rows)


@functools.cache
def _upsert_statement(model: Any, key: Sequence[str], fields: Sequence[str], dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + statement.excluded[name] for name in fields},
    )


@event.listens_for(Session, "before_commit")
def _write_changes(session: Session) -> None:
    # Runs inside the AsyncSession's greenlet, so the sync execute does its IO there.
    changes = session.info.pop(_CHANGES, None)
    if not changes:
        return
    _upsert(session, UnitMonthTally, _UNIT_KEY, changes["unit"])
    _upsert(session, FigureDayTally, _FIGURE_KEY, changes["figure"])


@event.listens_for(Session, "after_rollback")
def _forget_changes(session: Session) -> None:
    session.info.pop(_CHANGES, None)


# ---------------------------------------------------------------------- rebuild and check


async def ready(session: AsyncSession) -> bool:
    built = await session.scalar(select(TallyState.built_at).where(TallyState.id == 1))
    return built is not None


async def _hold(session: AsyncSession) -> None:
    """Hold the roll-ups for the transaction: events wait to write theirs until it commits,
    so a recount sees exactly the facts whose changes it replaces."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(
            text("LOCK TABLE unit_month_tally, figure_day_tally IN EXCLUSIVE MODE")
        )


def _dialect(session: AsyncSession) -> str:
    assert session.bind is not None
    return session.bind.dialect.name


def month_range(first: str, last: str) -> list[Month]:
    """The months from ``first`` to ``last`` (``YYYY-MM``), both included."""
    months = [Month.parse(first)]
    while months[-1] < Month.parse(last):
        months.append(months[-1].next())
    return months


async def _recount_units(
    session: AsyncSession, months: Sequence[Month] | None
) -> dict[tuple[str, str], Counter[str]]:
    """Decided counts per (unit, month) from the facts; every month, or only ``months``
    (consecutive)."""
    repository = EvaluationRepository.from_session(session)
    periods: Any = LocalMonths(_dialect(session))
    labels: Sequence[str] | None = None
    if months is not None:
        periods = Periods([months[0].start, *(m.end for m in months)])
        labels = [str(m) for m in months]
    result: dict[tuple[str, str], Counter[str]] = {}
    for statement in repository.count_statements(periods, utcnow()):
        for row in await session.execute(statement):
            month = labels[int(row.bucket)] if labels is not None else str(row.bucket)
            into = result.setdefault((row.unit_code, month), Counter())
            for name in UNIT_FIELDS:
                value = getattr(row, name, None)
                if value is not None:
                    into[name] += int(value)
    return result


async def _recount_figures(session: AsyncSession) -> dict[tuple[Any, ...], Counter[str]]:
    counted = await StatisticsRepository.from_session(session).figure_counts(
        lambda column: column.is_not(None), _dialect(session)
    )
    return {key: Counter(vars(counts)) for key, counts in counted.items()}


def _rows(counts: Mapping[tuple[Any, ...], Counter[str]], key: Sequence[str],
          fields: Sequence[str]) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for values, counter in sorted(counts.items(), key=lambda item: item[0]):
        amounts = {name: counter.get(name, 0) for name in fields}
        if any(amounts.values()):
            rows.append({**dict(zip(key, values, strict=True)), **amounts})
    return rows


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 1000):
        await session.execute(model.__table__.insert(), rows[start : start + 1000])


async def rebuild(session: AsyncSession) -> dict[str, int]:
    """Recount both roll-ups from every fact and mark them built (commits)."""
    session.info.pop(_CHANGES, None)
    await _hold(session)
    units = _rows(await _recount_units(session, None), _UNIT_KEY, UNIT_FIELDS)
    figures = _rows(await _recount_figures(session), _FIGURE_KEY, FIGURE_FIELDS)
    await session.execute(delete(UnitMonthTally))
    await session.execute(delete(FigureDayTally))
    await _insert(session, UnitMonthTally, units)
    await _insert(session, FigureDayTally, figures)
    state = await session.get(TallyState, 1)
    if state is None:
        session.add(TallyState(id=1, built_at=utcnow(), checked_at=utcnow(), drift=0))
    else:
        state.built_at = state.checked_at = utcnow()
    await session.commit()
    log.info("tallies.rebuilt", unit_rows=len(units), figure_rows=len(figures))
    return {"unit_rows": len(units), "figure_rows": len(figures)}


async def check(session: AsyncSession, spans: Sequence[Month], *, repair: bool = True) -> int:
    """Compare the unit roll-ups of the consecutive months ``spans`` and the figure roll-ups
    of their days with a recount from the facts; with ``repair``, replace the rows that differ
    (commits). Returns how many rows differed."""
    session.info.pop(_CHANGES, None)
    if repair:
        await _hold(session)
    expected_units = await _recount_units(session, spans)
    stored_units = {
        (row.unit_code, row.month): Counter({name: getattr(row, name) for name in UNIT_FIELDS})
        for row in await session.scalars(
            select(UnitMonthTally).where(UnitMonthTally.month.in_([str(m) for m in spans]))
        )
    }
    first, last = spans[0].start, spans[-1].end
    counted = await StatisticsRepository.from_session(session).figure_counts(
        lambda column: (column >= first) & (column < last), _dialect(session)
    )
    expected_figures = {key: Counter(vars(counts)) for key, counts in counted.items()}
    stored_figures = {
        (row.day, row.channel, row.topic, row.service): Counter(
            {name: getattr(row, name) for name in FIGURE_FIELDS}
        )
        for row in await session.scalars(
            select(FigureDayTally).where(
                FigureDayTally.day >= local_day(first), FigureDayTally.day < local_day(last)
            )
        )
    }
    unit_drift = _differing(expected_units, stored_units, UNIT_FIELDS)
    figure_drift = _differing(expected_figures, stored_figures, FIGURE_FIELDS)
    drift = len(unit_drift) + len(figure_drift)
    if drift:
        log.warning("tallies.drift", months=[str(m) for m in spans], unit_rows=len(unit_drift),
                    figure_rows=len(figure_drift), repaired=repair)  # fmt: skip
    if not repair:
        return drift
    if unit_drift:
        await session.execute(
            delete(UnitMonthTally).where(
                tuple_(UnitMonthTally.unit_code, UnitMonthTally.month).in_(unit_drift)
            )
        )
        await _insert(session, UnitMonthTally, _rows(
            {k: expected_units[k] for k in unit_drift if k in expected_units}, _UNIT_KEY,
            UNIT_FIELDS))  # fmt: skip
    if figure_drift:
        figure_key = tuple_(*(getattr(FigureDayTally, name) for name in _FIGURE_KEY))
        await session.execute(delete(FigureDayTally).where(figure_key.in_(figure_drift)))
        await _insert(session, FigureDayTally, _rows(
            {k: expected_figures[k] for k in figure_drift if k in expected_figures},
            _FIGURE_KEY, FIGURE_FIELDS))  # fmt: skip
    state = await session.get(TallyState, 1)
    if state is not None:
        state.checked_at = utcnow()
        state.drift += drift
    await session.commit()
    return drift


def _differing(
    expected: Mapping[tuple[Any, ...], Counter[str]],
    stored: Mapping[tuple[Any, ...], Counter[str]],
    fields: Sequence[str],
) -> list[tuple[Any, ...]]:
    def amounts(counter: Counter[str] | None) -> tuple[int, ...]:
        return tuple(int((counter or Counter()).get(name, 0)) for name in fields)

    return sorted(
        key
        for key in set(expected) | set(stored)
        if amounts(expected.get(key)) != amounts(stored.get(key))
    )


async def ensure_built(session: AsyncSession) -> bool:
    """Build the roll-ups if they never were (a new installation or the first start after
    the upgrade that added them); True if this call built them."""
    if await ready(session):
        return False
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # One worker builds; the others wait for it and then find them built.
        await session.execute(select(func.pg_advisory_xact_lock(0x7A11E5)))
        if await ready(session):
            await session.commit()
            return False
    await rebuild(session)
    return True
