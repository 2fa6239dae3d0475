"""Working-day calendar, pinned to the official State Council schedules.

2026 cases follow 国务院办公厅关于2026年部分节假日安排的通知; 2025 cases follow the 2025 notice.
"""

import random
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from pydantic import ValidationError

from shared.calendar import (
    SHANGHAI,
    Deadline,
    WorkCalendar,
    YearSchedule,
    default_calendar,
    statutory_holidays,
)


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


def eod(y: int, m: int, d: int) -> datetime:
    return sh(y, m, d, 23, 59, 59)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def _library_covers_2027() -> bool:
    try:
        chinese_calendar.is_workday(date(2027, 6, 1))
    except NotImplementedError:
        return False
    return True


# --- library coverage --------------------------------------------------------------------------


def test_library_years_are_probed_and_contiguous(cal: WorkCalendar) -> None:
    years = cal.confirmed_years()
    assert 2025 in years
    assert 2026 in years
    assert years == list(range(years[0], years[-1] + 1))
    assert not cal.is_confirmed(years[-1] + 1)
    assert not cal.is_confirmed(years[0] - 1)


def test_default_calendar_is_cached_library_only() -> None:
    assert default_calendar() is default_calendar()
    assert default_calendar().confirmed_years() == WorkCalendar().confirmed_years()


# --- 2026 National Day / Mid-Autumn ------------------------------------------------------------


def test_2026_national_day_five_working_days(cal: WorkCalendar) -> None:
    # 09-29, 09-30, (10-01..10-07 off), 10-08, 10-09, 10-10 (Saturday make-up day).
    for hour in (0, 9, 23):
        deadline = cal.add_working_days(sh(2026, 9, 28, hour, 30), 5)
        assert deadline == Deadline(due_at=eod(2026, 10, 10), provisional=False)
    assert deadline.due_at.isoformat() == "2026-10-10T23:59:59+08:00"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 20), True),  # Sunday make-up day
        (date(2026, 9, 25), False),  # Mid-Autumn (Friday)
        (date(2026, 9, 26), False),
        (date(2026, 9, 27), False),
        (date(2026, 10, 1), False),
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday make-up day
        (date(2026, 10, 11), False),
    ],
)
def test_2026_autumn_days(cal: WorkCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_next_working_day_is_strictly_after(cal: WorkCalendar) -> None:
    assert cal.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_working_day(date(2026, 10, 8)) == date(2026, 10, 9)
    assert cal.next_working_day(date(2026, 10, 9)) == date(2026, 10, 10)
    assert cal.next_working_day(date(2026, 9, 24)) == date(2026, 9, 28)


# --- 2026 Spring Festival ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 2), False),  # New Year (Friday)
        (date(2026, 1, 4), True),  # Sunday make-up day
        (date(2026, 2, 13), True),
        (date(2026, 2, 14), True),  # Saturday make-up day
        (date(2026, 2, 15), False),
        (date(2026, 2, 16), False),
        (date(2026, 2, 20), False),
        (date(2026, 2, 23), False),  # Monday, last day off
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday make-up day
        (date(2026, 3, 1), False),
    ],
)
def test_2026_spring_festival_days(cal: WorkCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_deadline_spanning_2026_spring_festival(cal: WorkCalendar) -> None:
    # Thu 02-12: 02-13, 02-14 (Sat, worked), (02-15..02-23 off), 02-24, 02-25, 02-26.
    assert cal.add_working_days(sh(2026, 2, 12, 15), 5) == Deadline(eod(2026, 2, 26), False)
    # From 02-24 the fourth working day is the make-up Saturday 02-28.
    assert cal.add_working_days(sh(2026, 2, 24, 9), 4) == Deadline(eod(2026, 2, 28), False)


# --- 2025 National Day -------------------------------------------------------------------------


def test_2025_national_day(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2025, 9, 28))  # Sunday make-up day
    assert cal.is_working_day(date(2025, 10, 11))  # Saturday make-up day
    assert not cal.is_working_day(date(2025, 10, 8))
    # Fri 09-26: 09-28 (Sun), 09-29, 09-30.
    assert cal.add_working_days(sh(2025, 9, 26, 11), 3) == Deadline(eod(2025, 9, 30), False)
    # Tue 09-30: (10-01..10-08 off), 10-09, 10-10, 10-11 (Sat).
    assert cal.add_working_days(sh(2025, 9, 30, 17), 3) == Deadline(eod(2025, 10, 11), False)


# --- time zones --------------------------------------------------------------------------------


def test_receipt_day_is_the_local_date(cal: WorkCalendar) -> None:
    # 2026-09-27 17:00 UTC is already Monday 09-28 01:00 in Shanghai.
    deadline = cal.add_working_days(datetime(2026, 9, 27, 17, tzinfo=UTC), 5)
    assert deadline.due_at == eod(2026, 10, 10)
    assert deadline.due_at.tzinfo is SHANGHAI


def test_naive_datetimes_are_rejected(cal: WorkCalendar) -> None:
    naive = datetime(2026, 9, 28, 9)
    aware = sh(2026, 9, 28, 9)
    with pytest.raises(ValueError, match="naive"):
        cal.add_working_days(naive, 1)
    with pytest.raises(ValueError, match="naive"):
        cal.add_working_hours(naive, 1)
    with pytest.raises(ValueError, match="naive"):
        cal.working_days_between(naive, aware)
    with pytest.raises(ValueError, match="naive"):
        cal.working_seconds_between(aware, naive)


def test_invalid_budgets_are_rejected(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="days"):
        cal.add_working_days(sh(2026, 9, 28), 0)
    with pytest.raises(ValueError, match="hours"):
        cal.add_working_hours(sh(2026, 9, 28), -1)
    with pytest.raises(ValueError, match="hours"):
        cal.add_working_hours(sh(2026, 9, 28), float("nan"))


# --- unconfirmed years and admin tables --------------------------------------------------------


# The statutory days off of 2027 by 全国年节及纪念日放假办法 (2024 amendment): 元旦 1 day, 春节 4
# (除夕 to 初三), 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3. Lunar and solar-term dates of 2027:
# 除夕 02-05, 清明 04-05, 端午 06-09, 中秋 09-15.
_STATUTORY_2027 = {
    date(2027, 1, 1): "元旦",
    date(2027, 2, 5): "农历除夕",
    date(2027, 2, 6): "春节",
    date(2027, 2, 7): "春节",
    date(2027, 2, 8): "春节",
    date(2027, 4, 5): "清明节",
    date(2027, 5, 1): "劳动节",
    date(2027, 5, 2): "劳动节",
    date(2027, 6, 9): "端午节",
    date(2027, 9, 15): "中秋节",
    date(2027, 10, 1): "国庆节",
    date(2027, 10, 2): "国庆节",
    date(2027, 10, 3): "国庆节",
}


def test_statutory_holidays_of_2027_follow_the_2024_regulation() -> None:
    assert statutory_holidays(2027) == _STATUTORY_2027
    # 2028: 除夕 01-25, 清明 04-04, 端午 05-28, and 中秋 falls on 国庆's third day (10-03).
    assert sorted(statutory_holidays(2028)) == [
        date(2028, 1, 1), date(2028, 1, 25), date(2028, 1, 26), date(2028, 1, 27),
        date(2028, 1, 28), date(2028, 4, 4), date(2028, 5, 1), date(2028, 5, 2),
        date(2028, 5, 28), date(2028, 10, 1), date(2028, 10, 2), date(2028, 10, 3),
    ]  # fmt: skip
    # Bridge days of a published year are not statutory (2026's 01-02 was a 调休 day).
    assert date(2026, 1, 2) not in statutory_holidays(2026)
    assert date(2026, 1, 1) in statutory_holidays(2026)


@pytest.mark.skipif(_library_covers_2027(), reason="installed chinesecalendar already has 2027")
@pytest.mark.parametrize(
    ("start", "due"),
    [
        # Wed 12-30: 12-31, (01-01 元旦), 01-04, 01-05, 01-06, 01-07.
        (sh(2026, 12, 30, 10), date(2027, 1, 7)),
        # Wed 02-03: 02-04, (02-05 除夕 .. 02-08 初三), 02-09, 02-10, 02-11, 02-12.
        (sh(2027, 2, 3, 10), date(2027, 2, 12)),
        # Thu 04-01: 04-02, (04-05 清明, a Monday), 04-06, 04-07, 04-08, 04-09.
        (sh(2027, 4, 1, 10), date(2027, 4, 9)),
        # Mon 06-07: 06-08, (06-09 端午), 06-10, 06-11, 06-14, 06-15.
        (sh(2027, 6, 7, 10), date(2027, 6, 15)),
        # Mon 09-13: 09-14, (09-15 中秋), 09-16, 09-17, 09-20, 09-21.
        (sh(2027, 9, 13, 10), date(2027, 9, 21)),
        # Thu 09-30: (10-01 国庆, a Friday), 10-04 .. 10-08.
        (sh(2027, 9, 30, 10), date(2027, 10, 8)),
    ],
)
def test_provisional_deadline_skips_statutory_holidays(
    cal: WorkCalendar, start: datetime, due: date
) -> None:
    assert cal.add_working_days(start, 5) == Deadline(
        datetime.combine(due, time(23, 59, 59), tzinfo=SHANGHAI), provisional=True
    )


@pytest.mark.skipif(_library_covers_2027(), reason="installed chinesecalendar already has 2027")
def test_year_boundary_into_2027_until_loaded(cal: WorkCalendar) -> None:
    start = sh(2027, 2, 3, 10)
    assert cal.add_working_days(start, 5) == Deadline(eod(2027, 2, 12), provisional=True)
    assert cal.is_provisional(date(2026, 12, 30), date(2027, 1, 6))
    assert not cal.is_working_day(date(2027, 2, 5))

    # The notice adds bridge days (02-04, 02-09 .. 02-11) and a make-up Saturday (02-20).
    bridge = [date(2027, 2, 4), date(2027, 2, 9), date(2027, 2, 10), date(2027, 2, 11)]
    cal.load(YearSchedule(year=2027, holidays=[*_STATUTORY_2027, *bridge],
                          workdays=[date(2027, 2, 20)]))  # fmt: skip
    assert cal.is_confirmed(2027)
    # Cached result must be invalidated: 02-12, 02-15, 02-16, 02-17, 02-18.
    assert cal.add_working_days(start, 5) == Deadline(eod(2027, 2, 18), provisional=False)
    assert not cal.is_working_day(date(2027, 2, 4))
    assert cal.is_working_day(date(2027, 2, 20))


def test_unconfirmed_far_future_is_provisional_weekdays(cal: WorkCalendar) -> None:
    # Fri 2099-12-25: 12-28 .. 12-31 (Mon-Thu), (2100-01-01 元旦, a Friday), 2100-01-04 (Mon).
    assert cal.add_working_days(sh(2099, 12, 25), 5) == Deadline(eod(2100, 1, 4), True)
    # Past the holiday library's range (2100) only weekends are known: Fri 2101-01-07.
    assert cal.add_working_days(sh(2100, 12, 31), 5) == Deadline(eod(2101, 1, 7), True)
    assert not cal.is_working_day(date(2099, 12, 26))
    assert cal.add_working_hours(sh(2099, 12, 25, 17), 1).provisional
    assert not cal.is_provisional(date(2025, 1, 1), date(2026, 12, 31))
    assert cal.is_provisional(date(2026, 1, 1), date(2099, 1, 1))


def test_loaded_schedule_overrides_library_year() -> None:
    # An admin table replaces the library's data for that year entirely.
    cal = WorkCalendar([YearSchedule(year=2026, holidays=[date(2026, 9, 29)], workdays=[])])
    assert not cal.is_working_day(date(2026, 9, 29))
    assert cal.is_working_day(date(2026, 10, 1))  # library holiday no longer applies
    assert not cal.is_working_day(date(2026, 10, 10))  # nor the library make-up day
    assert cal.confirmed_years() == WorkCalendar().confirmed_years()


def test_loaded_weekend_workday() -> None:
    cal = WorkCalendar()
    cal.load(YearSchedule(year=2100, holidays=[], workdays=[date(2100, 1, 2)], source="notice"))
    assert cal.is_working_day(date(2100, 1, 2))  # a Saturday
    assert cal.next_working_day(date(2100, 1, 1)) == date(2100, 1, 2)
    assert cal.is_confirmed(2100)
    assert 2100 in cal.confirmed_years()


def test_year_schedule_rejects_dates_outside_year() -> None:
    with pytest.raises(ValidationError, match="outside year 2027"):
        YearSchedule(year=2027, holidays=[date(2026, 12, 31)], workdays=[])
    with pytest.raises(ValidationError, match="outside year 2027"):
        YearSchedule(year=2027, holidays=[], workdays=[date(2028, 1, 1)])


def test_year_schedule_rejects_date_in_both_lists() -> None:
    with pytest.raises(ValidationError, match="both"):
        YearSchedule(year=2027, holidays=[date(2027, 2, 6)], workdays=[date(2027, 2, 6)])


def test_year_schedule_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        YearSchedule.model_validate({"year": 2027, "holiday": []})


# --- working hours -----------------------------------------------------------------------------


def test_hours_friday_afternoon_rolls_to_monday(cal: WorkCalendar) -> None:
    # Plain week in March 2026: 1 h on Friday, 1 h on Monday morning.
    assert cal.add_working_hours(sh(2026, 3, 13, 16, 30), 2) == Deadline(
        sh(2026, 3, 16, 9, 30), False
    )


def test_hours_from_lunch_break(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(sh(2026, 3, 11, 12, 30), 1).due_at == sh(2026, 3, 11, 14, 30)


def test_hours_across_lunch_and_before_opening(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(sh(2026, 3, 11, 11), 2).due_at == sh(2026, 3, 11, 14, 30)
    assert cal.add_working_hours(sh(2026, 3, 11, 6), 1.5).due_at == sh(2026, 3, 11, 10)
    assert cal.add_working_hours(sh(2026, 3, 11, 19), 0.5).due_at == sh(2026, 3, 12, 9)


def test_hours_ending_exactly_at_period_end(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(sh(2026, 3, 11, 8, 30), 3.5).due_at == sh(2026, 3, 11, 12)
    assert cal.add_working_hours(sh(2026, 3, 11, 8, 30), 7.5).due_at == sh(2026, 3, 11, 17, 30)
    # Exactly one day's budget from after closing ends at the next day's close.
    assert cal.add_working_hours(sh(2026, 3, 11, 18), 7.5).due_at == sh(2026, 3, 12, 17, 30)


def test_hours_starting_on_a_holiday(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(sh(2026, 10, 3, 10), 1) == Deadline(sh(2026, 10, 8, 9, 30), False)


def test_hours_across_national_day(cal: WorkCalendar) -> None:
    # 1.5 h left on 09-30, then 10-01..10-07 are off; 10-08 (Thursday) is a working day.
    deadline = cal.add_working_hours(sh(2026, 9, 30, 16), 2)
    assert deadline == Deadline(sh(2026, 10, 8, 9), False)


def test_hours_spanning_several_days(cal: WorkCalendar) -> None:
    # 16 h from Mon 09:00: 7 h Mon, 7.5 h Tue, 1.5 h Wed -> Wed 10:00.
    assert cal.add_working_hours(sh(2026, 3, 9, 9), 16).due_at == sh(2026, 3, 11, 10)


def test_hours_zero_and_other_timezone(cal: WorkCalendar) -> None:
    start = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    assert cal.add_working_hours(start, 0).due_at == sh(2026, 3, 11, 9)
    deadline = cal.add_working_hours(start, 1)
    assert deadline.due_at == sh(2026, 3, 11, 10)
    assert deadline.due_at.tzinfo is SHANGHAI


# --- elapsed working time ----------------------------------------------------------------------


def test_working_days_between(cal: WorkCalendar) -> None:
    assert cal.working_days_between(sh(2026, 9, 28, 9), sh(2026, 10, 10, 9)) == 5
    assert cal.working_days_between(sh(2026, 9, 28, 9), sh(2026, 9, 28, 17)) == 0
    assert cal.working_days_between(sh(2026, 10, 10, 9), sh(2026, 9, 28, 9)) == 0
    assert cal.working_days_between(sh(2026, 9, 30, 9), sh(2026, 10, 7, 9)) == 0
    # Across a year boundary (2025-12-31 Wed -> 2026-01-05 Mon: 01-04 Sunday make-up, 01-05).
    assert cal.working_days_between(sh(2025, 12, 31), sh(2026, 1, 5)) == 2
    # Whole 2025: 261 weekdays - 18 weekday holidays + 5 make-up weekend days.
    assert cal.working_days_between(sh(2024, 12, 31), sh(2025, 12, 31)) == 248


def test_working_seconds_between(cal: WorkCalendar) -> None:
    hour = 3600.0
    assert cal.working_seconds_between(sh(2026, 3, 11, 9), sh(2026, 3, 11, 10)) == hour
    assert cal.working_seconds_between(sh(2026, 3, 11, 11), sh(2026, 3, 11, 14)) == 1.5 * hour
    assert cal.working_seconds_between(sh(2026, 3, 11, 0), sh(2026, 3, 12, 0)) == 7.5 * hour
    assert cal.working_seconds_between(sh(2026, 3, 13, 16, 30), sh(2026, 3, 16, 9, 30)) == 2 * hour
    assert cal.working_seconds_between(sh(2026, 9, 30, 16), sh(2026, 10, 8, 9)) == 2 * hour
    assert cal.working_seconds_between(sh(2026, 10, 2), sh(2026, 10, 5)) == 0.0
    assert cal.working_seconds_between(sh(2026, 3, 11, 10), sh(2026, 3, 11, 9)) == 0.0
    utc_end = datetime(2026, 3, 11, 2, tzinfo=timezone(timedelta(hours=0)))  # 10:00 Shanghai
    assert cal.working_seconds_between(sh(2026, 3, 11, 9), utc_end) == hour


# --- cross-check against a day-by-day reference ------------------------------------------------


def _reference_add_days(start: date, n: int) -> date:
    day = start
    while n:
        day += timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


def test_matches_library_day_by_day_across_2025_and_2026(cal: WorkCalendar) -> None:
    day = date(2025, 1, 1)
    while day < date(2026, 11, 1):
        assert cal.is_working_day(day) is chinese_calendar.is_workday(day), day
        for n in (1, 3, 10, 20):
            expected = _reference_add_days(day, n)
            assert cal.add_working_days(sh(day.year, day.month, day.day, 12), n).due_at == (
                eod(expected.year, expected.month, expected.day)
            ), (day, n)
        day += timedelta(days=1)


def test_hours_and_seconds_are_inverse(cal: WorkCalendar) -> None:
    start = sh(2026, 9, 24, 10, 15)
    for quarter_hours in range(1, 200):
        hours = quarter_hours / 4
        due = cal.add_working_hours(start, hours).due_at
        assert cal.working_seconds_between(start, due) == hours * 3600, hours


def _deadline_by_walking(cal: WorkCalendar, start: datetime, days: int) -> Deadline:
    """Independent oracle: walk day by day from the receipt's local date."""
    received = start.astimezone(SHANGHAI).date()
    day, left = received, days
    while left:
        day += timedelta(days=1)
        if cal.is_working_day(day):
            left -= 1
    return Deadline(
        datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI),
        cal.is_provisional(received, day),
    )


def test_deadline_window_matches_walking_across_zones_years_and_loaded_tables() -> None:
    # 2030 loaded amid unconfirmed years, 2031 loaded with no working day at all: the window's
    # provisional bookkeeping and its skipping of empty years are both exercised.
    weekdays_2031 = [
        date(2031, 1, 1) + timedelta(days=i)
        for i in range(365)
        if (date(2031, 1, 1) + timedelta(days=i)).weekday() < 5
    ]
    cal = WorkCalendar(
        [
            YearSchedule(year=2030, holidays=[date(2030, 10, 1)], workdays=[date(2030, 9, 28)]),
            YearSchedule(year=2031, holidays=weekdays_2031),
        ]
    )
    # Tue 1988-07-05 15:30 UTC was already Wed 07-06 00:30 in Shanghai under daylight saving.
    dst_midnight = datetime(1988, 7, 5, 15, 30, tzinfo=UTC)
    assert cal.add_working_days(dst_midnight, 1).due_at.date() == date(1988, 7, 7)
    rnd = random.Random(20261205)
    zones = [UTC, SHANGHAI, timezone(timedelta(hours=-5)), ZoneInfo("America/New_York")]
    # Weighted to the interesting years: China's daylight-saving era (1986-1991), library
    # years, the confirmed/unconfirmed edges and far away (outside any window).
    years = [1987, 1991, 1992, 2004, 2025, 2026, 2027, 2029, 2030, 2031, 2032, 2099, 2500]
    for _ in range(1500):
        year = rnd.choice(years)
        instant = datetime(year, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rnd.randrange(-20 * 86400, 366 * 86400)
        )
        start = instant.astimezone(rnd.choice(zones))
        days = rnd.choice((1, 2, 5, 10, 20, 60, 250, 400))
        assert cal.add_working_days(start, days) == _deadline_by_walking(cal, start, days), (
            start,
            days,
        )


def test_deadline_window_stays_bounded_for_far_apart_receipts() -> None:
    cal = WorkCalendar()
    near = cal.add_working_days(sh(2026, 9, 28), 5)
    far = cal.add_working_days(sh(9000, 3, 1), 5)
    assert far == _deadline_by_walking(cal, sh(9000, 3, 1), 5)
    assert far.provisional
    # The far receipt did not stretch one window over seven thousand years.
    window = cal._window
    assert window.last_year - window.first_year < 41
    assert cal.add_working_days(sh(2026, 9, 28), 5) == near
