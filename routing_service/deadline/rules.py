"""Deadline rules of DESIGN.md §3–4, as pure functions over a WorkCalendar."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from routing_service.config import settings
from shared.calendar import SHANGHAI, Deadline, WorkCalendar
from shared.enums import Classification, SupervisionLevel

LADDER_ORDER = [
    SupervisionLevel.none,
    SupervisionLevel.sign_overdue,
    SupervisionLevel.yellow,
    SupervisionLevel.red,
    SupervisionLevel.listed,
    SupervisionLevel.escalated,
]
RANK = {level: index for index, level in enumerate(LADDER_ORDER)}
_WORK_START = time(8, 30)


def limit_days(classification: Classification) -> int:
    return {
        Classification.general: settings.general_days,
        Classification.complex: settings.complex_days,
        Classification.special: settings.special_days,
        Classification.multi: settings.multi_days,
        Classification.urgent: settings.general_days,
        Classification.violation: settings.general_days,
    }[classification]


def verify_due(calendar: WorkCalendar, received_at: datetime) -> Deadline:
    return calendar.add_working_days(received_at, settings.verify_days)


def sign_due(calendar: WorkCalendar, dispatched_at: datetime, *, urgent: bool) -> datetime:
    if urgent:
        # Urgent matters: 2 calendar hours to respond, nights and holidays included.
        return dispatched_at + timedelta(hours=settings.urgent_hours)
    return calendar.add_working_hours(dispatched_at, settings.sign_hours).due_at


def completion_due(calendar: WorkCalendar, clock_start: datetime, days: int) -> Deadline:
    return calendar.add_working_days(clock_start, days)


def previous_working_day_start(calendar: WorkCalendar, due_at: datetime) -> datetime:
    """08:30 on the working day before the due day: when one full working day remains."""
    day = due_at.astimezone(SHANGHAI).date() - timedelta(days=1)
    for _ in range(40):
        if calendar.is_working_day(day):
            return datetime.combine(day, _WORK_START, tzinfo=SHANGHAI)
        day -= timedelta(days=1)
    return due_at - timedelta(days=1)


def ladder(
    calendar: WorkCalendar, *, due_at: datetime, sign_due_at: datetime, unsigned: bool
) -> list[tuple[datetime, SupervisionLevel]]:
    """Every step of the ladder for one due date, in order of rank."""
    steps: list[tuple[datetime, SupervisionLevel]] = []
    if unsigned:
        steps.append((sign_due_at, SupervisionLevel.sign_overdue))
    steps.append((previous_working_day_start(calendar, due_at), SupervisionLevel.yellow))
    steps.append((due_at, SupervisionLevel.red))
    steps.append(
        (
            calendar.add_working_days(due_at, settings.listed_after_days).due_at,
            SupervisionLevel.listed,
        )
    )
    return steps


def next_check(
    calendar: WorkCalendar,
    *,
    level: SupervisionLevel,
    due_at: datetime,
    sign_due_at: datetime,
    unsigned: bool,
) -> datetime | None:
    """When the ladder next has something to do after ``level``; None when nothing is left."""
    for at, step in ladder(calendar, due_at=due_at, sign_due_at=sign_due_at, unsigned=unsigned):
        if RANK[step] > RANK[level]:
            return at
    return None
