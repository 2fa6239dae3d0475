"""Pieces every list filter shares: date ranges in local days (Asia/Shanghai) and their checks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from services.errors import ServiceError
from shared.calendar import SHANGHAI

__all__ = ["BackwardsRange", "check_forwards", "day_start", "within_days"]


class BackwardsRange(ServiceError):
    status_code = 422
    code = "invalid_date_range"
    message = "日期范围的起始日期晚于结束日期"
    message_en = "The date range starts after it ends"


def day_start(day: date) -> datetime:
    """The first instant of a local day (the center works on Beijing time)."""
    return datetime.combine(day, time(), tzinfo=SHANGHAI)


def within_days(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], first: date | None, last: date | None
) -> list[ColumnElement[bool]]:
    """``column`` on or after local day ``first`` and on or before local day ``last``."""
    where: list[ColumnElement[bool]] = []
    if first is not None:
        where.append(column >= day_start(first))
    if last is not None:
        where.append(column < day_start(last + timedelta(days=1)))
    return where


def check_forwards(model: object, *pairs: tuple[str, str]) -> None:
    """Refuse a range whose start lies after its end (a filter model's validator calls this)."""
    for low, high in pairs:
        start, end = getattr(model, low), getattr(model, high)
        if start is not None and end is not None and start > end:
            raise BackwardsRange(details={low: str(start), high: str(end)})
