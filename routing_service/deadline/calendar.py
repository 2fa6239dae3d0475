"""The working-day calendar of this deployment: the library's official schedules plus the years
an admin loaded (``calendar_year`` table), cached per process."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import CalendarYear
from shared.calendar import WorkCalendar, YearSchedule

CACHE_SECONDS = 30.0


class CalendarProvider:
    def __init__(self) -> None:
        self._calendar: WorkCalendar | None = None
        self._loaded_at = 0.0

    async def get(self, session: AsyncSession) -> WorkCalendar:
        # Another process may load a year: re-read the (tiny) table every CACHE_SECONDS.
        if self._calendar is None or time.monotonic() - self._loaded_at > CACHE_SECONDS:
            rows = (await session.scalars(select(CalendarYear))).all()
            self._calendar = WorkCalendar(
                YearSchedule(
                    year=row.year,
                    holidays=[date.fromisoformat(d) for d in row.holidays],
                    workdays=[date.fromisoformat(d) for d in row.workdays],
                    source=row.source,
                )
                for row in rows
            )
            self._loaded_at = time.monotonic()
        return self._calendar

    def invalidate(self) -> None:
        self._calendar = None


calendar_provider = CalendarProvider()
