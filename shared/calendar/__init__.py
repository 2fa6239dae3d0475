"""Official working-day calendar (State Council schedule) and deadline arithmetic."""

from shared.calendar._calendar import (
    SHANGHAI,
    Deadline,
    WorkCalendar,
    YearSchedule,
    default_calendar,
    statutory_holidays,
)

__all__ = [
    "SHANGHAI",
    "Deadline",
    "WorkCalendar",
    "YearSchedule",
    "default_calendar",
    "statutory_holidays",
]
