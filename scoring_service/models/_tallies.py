"""Roll-ups of the facts, kept exact by the same events that write the facts.

A monthly scorecard, the year-end evaluation and the public statistics read these instead of
every fact of the period, so their cost follows the number of units and days asked for, not the
number of cases behind them. What depends on the clock (a card still within its time) is not
rolled up: the evaluation counts it live over the undecided cards only (partial indexes on
``card_fact``). ``scoring_service.evaluation.tallies`` keeps them; a rebuild recomputes them from
the facts.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from scoring_service.models._base import Model
from services.models import UTCDateTime


def _counter() -> Mapped[int]:
    return mapped_column(Integer, default=0, server_default="0", nullable=False)


class UnitMonthTally(Model):
    """One unit's decided counts in one Asia/Shanghai month (``UnitCounts`` without the
    pending ones). Each count sits in the month of the time it is about: dispatch figures in
    the month of dispatch, returns in the month of return, due figures in the month due,
    completions in the month approved, ratings in the month rated."""

    __tablename__ = "unit_month_tally"

    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    dispatched: Mapped[int] = _counter()
    signed_on_time: Mapped[int] = _counter()
    responded: Mapped[int] = _counter()
    returned: Mapped[int] = _counter()
    due: Mapped[int] = _counter()
    completed_on_time: Mapped[int] = _counter()
    red: Mapped[int] = _counter()
    listed: Mapped[int] = _counter()
    escalated: Mapped[int] = _counter()
    completed: Mapped[int] = _counter()
    redone: Mapped[int] = _counter()
    working_days_sum: Mapped[int] = _counter()
    working_days_count: Mapped[int] = _counter()
    ratings: Mapped[int] = _counter()
    satisfied: Mapped[int] = _counter()
    basic: Mapped[int] = _counter()
    unsatisfied: Mapped[int] = _counter()
    resolution_known: Mapped[int] = _counter()
    resolved: Mapped[int] = _counter()
    agency_due: Mapped[int] = _counter()
    agency_on_time: Mapped[int] = _counter()


class FigureDayTally(Model):
    """The public figures of the requests received on one Asia/Shanghai day, per channel,
    topic and kind (service item or issue): collected, the current state of their cases and
    each case's final rating."""

    __tablename__ = "figure_day_tally"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    service: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    collected: Mapped[int] = _counter()
    resolved: Mapped[int] = _counter()
    in_progress: Mapped[int] = _counter()
    ratings: Mapped[int] = _counter()
    satisfied: Mapped[int] = _counter()
    basic: Mapped[int] = _counter()


class TallyState(Model):
    """Whether the roll-ups hold every fact (one row): set by a rebuild. Until then the
    evaluation counts from the facts, as it did before roll-ups existed."""

    __tablename__ = "tally_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    drift: Mapped[int] = _counter()  # rows a check found different and repaired, in total
