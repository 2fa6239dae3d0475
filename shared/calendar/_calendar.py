"""Working-day and working-hour arithmetic for the official Chinese (State Council) schedule.

Years known to the ``chinesecalendar`` package, or loaded by an admin as a :class:`YearSchedule`,
are *confirmed*. Any other year falls back to Monday-Friday minus the statutory holidays, which
the national regulation (全国年节及纪念日放假办法, 2024 amendment) fixes in advance and the
``holidays`` package computes (lunar and solar-term dates included); only the make-up weekdays
and bridge days of such a year are unknown, so results that touch it are marked ``provisional``
so callers can show "deadline to be confirmed".

Everything is computed on proleptic ordinals (``date.toordinal()``) against per-year sorted
arrays of working-day ordinals, so jumping ``n`` working days is a ``bisect`` instead of a
day-by-day loop. ``add_working_days``, which every card, reminder and scorecard calls, also keeps
a dense window of day-indexed tables over the years it has seen, so a deadline is two list
lookups: its cost does not depend on which deadlines were asked before.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Self
from zoneinfo import ZoneInfo

import chinese_calendar
from holidays.countries.china import China as ChinaHolidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "SHANGHAI",
    "Deadline",
    "WorkCalendar",
    "YearSchedule",
    "default_calendar",
    "statutory_holidays",
]

SHANGHAI: ZoneInfo = ZoneInfo("Asia/Shanghai")

_END_OF_DAY = time(23, 59, 59)

# Working periods in microseconds since local midnight: 08:30-12:00 and 13:30-17:30.
_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_SECOND
_AM_START = (8 * 3600 + 30 * 60) * _US_PER_SECOND
_AM_END = 12 * _US_PER_HOUR
_PM_START = (13 * 3600 + 30 * 60) * _US_PER_SECOND
_PM_END = (17 * 3600 + 30 * 60) * _US_PER_SECOND
_AM_LEN = _AM_END - _AM_START
_DAY_WORK = _AM_LEN + (_PM_END - _PM_START)  # 7.5 h

# The deadline window spans at most this many years (≈ 2 MB of tables).
_WINDOW_MAX_YEARS = 40


def _fixed_offset_span() -> tuple[int, int]:
    """Local ordinals over which Asia/Shanghai is plain UTC+8, as the installed tzdata says.

    China has not observed daylight saving since 1991-09-15, so from 1992 a UTC instant's local
    date is the date eight hours later: several times cheaper than ``astimezone``. The span ends
    at the first month tzdata gives another offset, should China ever change its clocks.
    """
    eight = timedelta(hours=8)
    first = date(1992, 1, 1)
    year, month = first.year, first.month
    while year < 2200:
        if datetime(year, month, 1, 12, tzinfo=SHANGHAI).utcoffset() != eight:
            break
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return first.toordinal(), date(year, month, 1).toordinal()


_FIXED_FROM, _FIXED_UNTIL = _fixed_offset_span()
_UTC_TO_LOCAL = timedelta(hours=8)


# --------------------------------------------------------------------------------------------
# Library data
# --------------------------------------------------------------------------------------------


def _library_knows(year: int) -> bool:
    """Whether ``chinese_calendar`` has data for ``year`` (it raises NotImplementedError if not)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _probe_library_years() -> frozenset[int]:
    """Find the years the installed ``chinese_calendar`` covers, without hard-coding a range.

    The library's data dicts give candidate years; each candidate is confirmed through the public
    ``is_workday`` API, whose own range check is authoritative. If the dicts ever move, fall back
    to walking outwards from the current year until the library refuses.
    """
    candidates: set[int] = set()
    try:
        from chinese_calendar import constants

        candidates = {d.year for d in constants.holidays} | {d.year for d in constants.workdays}
    except (ImportError, AttributeError):
        pass
    if candidates:
        span = range(min(candidates), max(candidates) + 1)
        return frozenset(y for y in span if _library_knows(y))

    this_year = datetime.now(SHANGHAI).year
    if not _library_knows(this_year):
        return frozenset()
    lo = hi = this_year
    while lo > date.min.year and _library_knows(lo - 1):
        lo -= 1
    while hi < date.max.year and _library_knows(hi + 1):
        hi += 1
    return frozenset(range(lo, hi + 1))


_LIBRARY_YEARS: frozenset[int] = _probe_library_years()


def _year_days(year: int) -> list[date]:
    start = date(year, 1, 1).toordinal()
    end = date(year, 12, 31).toordinal()
    return [date.fromordinal(o) for o in range(start, end + 1)]


@functools.cache
def _library_working_ordinals(year: int) -> tuple[int, ...]:
    """Working-day ordinals of a library-covered year (built once per process; ~5 ms)."""
    return tuple(d.toordinal() for d in _year_days(year) if chinese_calendar.is_workday(d))


# The ``holidays`` package labels a published year's bridge days "休息日（由 … 调休）"; those
# come with make-up weekdays it does not carry, so only the statutory days themselves are used.
_SUBSTITUTED_MARK = "调休"


def statutory_holidays(year: int) -> dict[date, str]:
    """The statutory days off of ``year`` by the national regulation, with their Chinese names.

    Weekend dates are included (the regulation does not move them; a notice later may). Bridge
    days and make-up working days are not: they exist only once the State Council publishes.
    """
    # The package does not annotate its constructors.
    table = ChinaHolidays(years=year, observed=False, language="zh_CN")  # type: ignore[no-untyped-call]
    return {
        day: name
        for day, name in sorted(table.items())
        if day.year == year and _SUBSTITUTED_MARK not in name
    }


@functools.cache
def _provisional_working_ordinals(year: int) -> tuple[int, ...]:
    """Monday-Friday minus the statutory holidays: the rule for years nobody has confirmed."""
    off = statutory_holidays(year).keys()
    return tuple(d.toordinal() for d in _year_days(year) if d.weekday() < 5 and d not in off)


# --------------------------------------------------------------------------------------------
# Public models
# --------------------------------------------------------------------------------------------


class YearSchedule(BaseModel):
    """One year's official holiday arrangement, as loaded by an admin.

    A loaded table replaces the library's data for that year entirely (it is the authority).
    ``holidays`` are dates that would normally be worked but are off; ``workdays`` are dates
    that would normally be off but are worked (调休上班). Redundant entries (a weekend date in
    ``holidays`` or a weekday in ``workdays``) are accepted and have no effect, so the official
    notice can be transcribed day for day.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=date.min.year, le=date.max.year)
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)
    source: str = Field("admin", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")

    @model_validator(mode="after")
    def _check_dates(self) -> Self:
        outside = sorted(d for d in [*self.holidays, *self.workdays] if d.year != self.year)
        if outside:
            listed = ", ".join(d.isoformat() for d in outside)
            raise ValueError(f"dates outside year {self.year}: {listed}")
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"dates listed as both holiday and workday: {listed}")
        return self

    def working_ordinals(self) -> tuple[int, ...]:
        """Sorted ordinals of this year's working days."""
        off = set(self.holidays)
        on = set(self.workdays)
        return tuple(
            d.toordinal()
            for d in _year_days(self.year)
            if d in on or (d.weekday() < 5 and d not in off)
        )


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed due time.

    Attributes:
        due_at: Aware datetime in Asia/Shanghai.
        provisional: True if any year the computation touched has no confirmed schedule.
    """

    due_at: datetime
    provisional: bool


# --------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    """Day-indexed tables over whole years ``first_year..last_year`` for ``add_working_days``.

    Index ``i`` is the day ``origin + i``. ``after[i]`` is the position in ``working`` of the
    first working day strictly after it; ``unconfirmed_from[i]`` the ordinal where the first
    unconfirmed year from that day's year on begins (past the window if none). A deadline is
    shared, immutable, and built once per working day in each of its two provisional states.
    """

    first_year: int
    last_year: int
    origin: int
    after: list[int]
    unconfirmed_from: list[int]
    working: list[int]
    confirmed: list[Deadline]
    provisional: list[Deadline]


_NO_WINDOW = _Window(0, -1, 0, [], [], [], [], [])


def _to_local(moment: datetime) -> datetime:
    """Convert an aware datetime to Asia/Shanghai; naive datetimes are a caller bug."""
    if moment.tzinfo is SHANGHAI:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed: {moment!r}; attach a timezone")
    return moment.astimezone(SHANGHAI)


def _micros_of_day(local: datetime) -> int:
    return (
        local.hour * 3600 + local.minute * 60 + local.second
    ) * _US_PER_SECOND + local.microsecond


def _worked_before(micros: int) -> int:
    """Working microseconds elapsed on a working day before ``micros`` past midnight."""
    am = min(max(micros - _AM_START, 0), _AM_LEN)
    pm = min(max(micros - _PM_START, 0), _PM_END - _PM_START)
    return am + pm


def _at(ordinal: int, micros: int) -> datetime:
    midnight = datetime.combine(date.fromordinal(ordinal), time(), tzinfo=SHANGHAI)
    return midnight + timedelta(microseconds=micros)


class WorkCalendar:
    """Working-day calendar: library data, overridden per year by loaded :class:`YearSchedule`.

    Instances are cheap; per-year tables are built lazily and cached. Reads are safe from
    several threads (cache fills are idempotent); ``load`` should not race with reads if the
    caller needs a consistent view across the swap.
    """

    __slots__ = ("_confirmed", "_loaded", "_tables", "_window")

    def __init__(self, schedules: Iterable[YearSchedule] = ()) -> None:
        """Create a calendar.

        Args:
            schedules: Admin-loaded year tables; each overrides the library for its year.
        """
        self._loaded: dict[int, YearSchedule] = {}
        self._confirmed: frozenset[int] = _LIBRARY_YEARS
        self._tables: dict[int, tuple[int, ...]] = {}
        self._window = _NO_WINDOW
        for schedule in schedules:
            self.load(schedule)

    # -- configuration -----------------------------------------------------------------------

    def load(self, schedule: YearSchedule) -> None:
        """Add or replace one year's table; the year becomes confirmed.

        Args:
            schedule: The year's official arrangement.
        """
        self._loaded[schedule.year] = schedule
        self._confirmed = _LIBRARY_YEARS | self._loaded.keys()
        # Swap in fresh caches rather than clearing, so a concurrent reader never sees a
        # half-invalidated state mixing old and new tables.
        self._tables = {}
        self._window = _NO_WINDOW

    def is_confirmed(self, year: int) -> bool:
        """Whether ``year`` has library data or a loaded table.

        Args:
            year: Calendar year.
        """
        return year in self._confirmed

    def confirmed_years(self) -> list[int]:
        """All confirmed years, ascending."""
        return sorted(self._confirmed)

    # -- tables ------------------------------------------------------------------------------

    def _table(self, year: int) -> tuple[int, ...]:
        """Sorted working-day ordinals of ``year`` (cached)."""
        table = self._tables.get(year)
        if table is None:
            loaded = self._loaded.get(year)
            if loaded is not None:
                table = loaded.working_ordinals()
            elif year in _LIBRARY_YEARS:
                table = _library_working_ordinals(year)
            else:
                table = _provisional_working_ordinals(year)
            self._tables[year] = table
        return table

    def _is_working_ordinal(self, ordinal: int) -> bool:
        table = self._table(date.fromordinal(ordinal).year)
        i = bisect_right(table, ordinal)
        return i > 0 and table[i - 1] == ordinal

    def _nth_working_after(self, ordinal: int, n: int) -> int:
        """Ordinal of the ``n``-th (n >= 1) working day strictly after ``ordinal``."""
        year = date.fromordinal(ordinal).year
        table = self._table(year)
        i = bisect_right(table, ordinal) + n - 1
        while i >= len(table):
            i -= len(table)
            year += 1
            if year > date.max.year:
                raise ValueError("working-day arithmetic ran past year 9999")
            table = self._table(year)
        return table[i]

    def _count_working(self, after: int, upto: int) -> int:
        """Number of working days ``d`` with ``after < d <= upto`` (ordinals)."""
        if upto <= after:
            return 0
        y0 = date.fromordinal(after).year
        y1 = date.fromordinal(upto).year
        first = self._table(y0)
        if y0 == y1:
            return bisect_right(first, upto) - bisect_right(first, after)
        count = len(first) - bisect_right(first, after)
        for year in range(y0 + 1, y1):
            count += len(self._table(year))
        return count + bisect_right(self._table(y1), upto)

    # -- queries -----------------------------------------------------------------------------

    def is_provisional(self, start: date, end: date) -> bool:
        """Whether any year in ``[start, end]`` (either order) is unconfirmed.

        Args:
            start: First date of the span.
            end: Last date of the span.
        """
        lo, hi = sorted((start.year, end.year))
        if hi - lo + 1 > len(self._confirmed):
            return True
        confirmed = self._confirmed
        return any(year not in confirmed for year in range(lo, hi + 1))

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day.

        Args:
            day: A local (Asia/Shanghai) calendar date.
        """
        return self._is_working_ordinal(day.toordinal())

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``.

        Args:
            day: A local calendar date.
        """
        return date.fromordinal(self._nth_working_after(day.toordinal(), 1))

    def add_working_days(self, start: datetime, days: int) -> Deadline:
        """Deadline ``days`` working days after receipt.

        Day 1 is the first working day after the local date of ``start``; the deadline is the
        end (23:59:59) of day ``days``. The time of day of ``start`` does not matter.

        Args:
            start: Aware datetime of receipt.
            days: Number of working days, at least 1.

        Raises:
            ValueError: ``start`` is naive or ``days`` < 1.
        """
        zone = start.tzinfo
        if zone is UTC:
            first = (start + _UTC_TO_LOCAL).toordinal()
            if not _FIXED_FROM <= first < _FIXED_UNTIL:
                first = start.astimezone(SHANGHAI).toordinal()
        elif zone is SHANGHAI:
            first = start.toordinal()
        else:
            first = _to_local(start).toordinal()
        window = self._window
        day = first - window.origin
        if 0 <= day < len(window.after) and days >= 1:
            at = window.after[day] + days - 1
            if at < len(window.working):
                if window.working[at] < window.unconfirmed_from[day]:
                    return window.confirmed[at]
                return window.provisional[at]
        return self._deadline_outside_window(first, days)

    def _deadline_outside_window(self, first: int, days: int) -> Deadline:
        """``add_working_days`` by bisection, for a deadline the window does not cover yet."""
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        due = self._nth_working_after(first, days)
        due_date = date.fromordinal(due)
        deadline = Deadline(
            due_at=datetime.combine(due_date, _END_OF_DAY, tzinfo=SHANGHAI),
            provisional=self.is_provisional(date.fromordinal(first), due_date),
        )
        # Widen the window to cover this deadline, with a year of slack past it, as long as it
        # stays within bounds around the current year: the services' deadlines are all near
        # today, while a far-away date typed into the calculator must neither stretch the window
        # nor evict today's (such dates keep being bisected).
        window = self._window
        if window.first_year > window.last_year:
            this_year = datetime.now(SHANGHAI).year
            lo, hi = this_year - 1, this_year + 1
        else:
            lo, hi = window.first_year, window.last_year
        lo = min(lo, date.fromordinal(first).year)
        hi = min(max(hi, due_date.year + 1), date.max.year)
        if hi - lo < _WINDOW_MAX_YEARS:
            self._window = self._build_window(lo, hi)
        return deadline

    def _build_window(self, first_year: int, last_year: int) -> _Window:
        years = range(first_year, last_year + 1)
        starts = [date(year, 1, 1).toordinal() for year in years]
        ends = [*starts[1:], date(last_year, 12, 31).toordinal() + 1]
        # Per year, where the first unconfirmed year from it on begins (its own start if it is
        # unconfirmed: a receipt there is provisional whatever its deadline).
        unconfirmed_at: list[int] = []
        following = ends[-1]
        for year, begins in zip(reversed(years), reversed(starts), strict=True):
            if year not in self._confirmed:
                following = begins
            unconfirmed_at.append(following)
        unconfirmed_at.reverse()

        working: list[int] = []
        after: list[int] = []
        unconfirmed_from: list[int] = []
        for year, begins, ends_before, unconfirmed in zip(
            years, starts, ends, unconfirmed_at, strict=True
        ):
            working.extend(self._table(year))
            unconfirmed_from.extend([unconfirmed] * (ends_before - begins))
        position = 0
        for ordinal in range(starts[0], ends[-1]):
            while position < len(working) and working[position] <= ordinal:
                position += 1
            after.append(position)
        confirmed = [
            Deadline(datetime.combine(date.fromordinal(o), _END_OF_DAY, tzinfo=SHANGHAI), False)
            for o in working
        ]
        provisional = [Deadline(deadline.due_at, True) for deadline in confirmed]
        return _Window(
            first_year,
            last_year,
            starts[0],
            after,
            unconfirmed_from,
            working,
            confirmed,
            provisional,
        )

    def add_working_hours(self, start: datetime, hours: float) -> Deadline:
        """Moment at which ``hours`` of working time (08:30-12:00, 13:30-17:30) are used up.

        Time outside working periods does not count; a start outside a period begins counting
        at the next period start. Computation is exact to the microsecond.

        Args:
            start: Aware datetime the clock starts.
            hours: Working hours budget, >= 0. Zero returns ``start`` (in local time).

        Raises:
            ValueError: ``start`` is naive or ``hours`` is negative or not finite.
        """
        local = _to_local(start)
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite number >= 0, got {hours}")
        remaining = round(hours * _US_PER_HOUR)
        ordinal = local.toordinal()
        start_date = local.date()
        if remaining == 0:
            return Deadline(local, self.is_provisional(start_date, start_date))

        if self._is_working_ordinal(ordinal):
            now = _micros_of_day(local)
            for period_start, period_end in ((_AM_START, _AM_END), (_PM_START, _PM_END)):
                if now < period_end:
                    begin = max(now, period_start)
                    available = period_end - begin
                    if remaining <= available:
                        due_at = _at(ordinal, begin + remaining)
                        return Deadline(due_at, self.is_provisional(start_date, due_at.date()))
                    remaining -= available

        # Skip whole working days at once; the budget then ends within the landing day
        # (0 < remaining <= one day's work, so a budget ending exactly at 17:30 stays there).
        whole_days = (remaining - 1) // _DAY_WORK
        ordinal = self._nth_working_after(ordinal, whole_days + 1)
        remaining -= whole_days * _DAY_WORK
        if remaining <= _AM_LEN:
            micros = _AM_START + remaining
        else:
            micros = _PM_START + (remaining - _AM_LEN)
        due_at = _at(ordinal, micros)
        return Deadline(due_at, self.is_provisional(start_date, due_at.date()))

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Count working days ``d`` with ``start.date() < d <= end.date()`` (local dates).

        Used for "days overdue" and "average working days to complete".

        Args:
            start: Aware start moment.
            end: Aware end moment.

        Returns:
            The count, or 0 if ``end <= start``.
        """
        local_start = _to_local(start)
        local_end = _to_local(end)
        if local_end <= local_start:
            return 0
        return self._count_working(local_start.toordinal(), local_end.toordinal())

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working time (within 08:30-12:00, 13:30-17:30 on working days) between two moments.

        Args:
            start: Aware start moment.
            end: Aware end moment.

        Returns:
            Seconds of working time, or 0.0 if ``end <= start``.
        """
        local_start = _to_local(start)
        local_end = _to_local(end)
        if local_end <= local_start:
            return 0.0
        s_ord = local_start.toordinal()
        e_ord = local_end.toordinal()
        # Cumulative working time W(t): full days before t's date, plus the part of t's day.
        full_days = self._count_working(s_ord - 1, e_ord - 1)
        total = full_days * _DAY_WORK
        if self._is_working_ordinal(e_ord):
            total += _worked_before(_micros_of_day(local_end))
        if self._is_working_ordinal(s_ord):
            total -= _worked_before(_micros_of_day(local_start))
        return total / _US_PER_SECOND


@functools.cache
def default_calendar() -> WorkCalendar:
    """Process-wide calendar with library data only.

    Shared by every caller: do not ``load`` into it; build a :class:`WorkCalendar` with the
    admin tables instead.
    """
    return WorkCalendar()
