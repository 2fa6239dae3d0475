from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query

from scoring_service.evaluation.exceptions import InvalidYear, OwnUnitOnly
from scoring_service.evaluation.service import Month, parse_year
from scoring_service.evaluation.statistics import check_range
from services.auth import Principal, bearer_principal
from services.models import utcnow
from services.policy import authorize, is_department
from shared.calendar import SHANGHAI

# Staff sign in at routing (or an external identity provider); services.auth verifies the
# bearer token without a database read. No token: 401 unauthorized; a bad one: 401 invalid_token.
CurrentStaff = Annotated[Principal, Depends(bearer_principal)]


_YEAR = re.compile(r"^[0-9]{4}$")


def ensure_may_read_all(principal: Principal) -> None:
    """Rankings and exports show every unit: centers, auditors and admins only."""
    authorize(principal, "evaluation.read")
    if is_department(principal):
        raise OwnUnitOnly()


def ensure_may_read_unit(principal: Principal, unit_code: str) -> None:
    """Department staff read their own unit's figures; the others read every unit's."""
    authorize(principal, "evaluation.read")
    if is_department(principal) and principal.unit_code != unit_code:
        raise OwnUnitOnly()


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


# Parameter parsers are ``async``: FastAPI runs a plain ``def`` dependency in a thread pool.
async def month_param(
    month: Annotated[
        str | None,
        Query(max_length=20, description="YYYY-MM (Asia/Shanghai); default: the current month"),
    ] = None,
) -> Month:
    if month is None:
        return Month.containing(utcnow())
    return Month.parse(month)


MonthParam = Annotated[Month, Depends(month_param)]


async def policy_month_path(
    month: Annotated[str, Path(max_length=20, description="YYYY-MM, the first month in force")],
) -> Month:
    return Month.parse(month)


PolicyMonth = Annotated[Month, Depends(policy_month_path)]


async def closing_month_path(
    month: Annotated[str, Path(max_length=20, description="YYYY-MM (Asia/Shanghai)")],
) -> Month:
    return Month.parse(month)


ClosingMonth = Annotated[Month, Depends(closing_month_path)]


async def year_param(
    year: Annotated[
        str | None, Query(max_length=8, description="Four digits; default: the current year")
    ] = None,
) -> int:
    if year is None:
        return _today().year
    if _YEAR.match(year) is None:
        raise InvalidYear(details={"year": year[:8]})
    return parse_year(int(year))


YearParam = Annotated[int, Depends(year_param)]

UnitCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_\-]+$")]
TopParam = Annotated[int, Query(ge=0, le=50, description="Length of the top and bottom lists")]


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date


async def date_range(
    start: Annotated[
        date | None, Query(description="First day (Asia/Shanghai); default: 1 January")
    ] = None,
    end: Annotated[date | None, Query(description="Last day, inclusive; default: today")] = None,
) -> DateRange:
    today = _today()
    end = end or today
    start = start or date(end.year, 1, 1)
    check_range(start, end)
    return DateRange(start, end)


DateRangeParam = Annotated[DateRange, Depends(date_range)]
