from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from routing_service.auth import CurrentPrincipal
from routing_service.deadline.calendar import calendar_provider
from routing_service.deadline.service import calendar_service
from routing_service.deadline.supervision import supervision_service
from routing_service.models import CalendarYear, Card, Case, OrgUnit, SupervisionEvent
from services.db import SessionDep
from services.errors import error_responses
from services.models import utcnow
from services.policy import authorize, in_scope, list_scope
from shared.calendar import YearSchedule
from shared.enums import SupervisionLevel
from shared.schemas.base import Schema

router = APIRouter(prefix="/v1", tags=["deadlines"])


class LoadResultOut(Schema):
    year: int
    recomputed: int
    changed: int
    still_provisional: int


class CalendarYearOut(Schema):
    year: int
    holidays: list[str]
    workdays: list[str]
    source: str
    loaded_by: str
    loaded_at: datetime


class DeadlineOut(Schema):
    start: datetime
    working_days: int
    due_at: datetime
    provisional: bool


class SupervisionEventOut(Schema):
    id: uuid.UUID
    card_id: uuid.UUID
    case_id: uuid.UUID
    tracking_no: str
    unit_code: str
    level: SupervisionLevel
    due_at: datetime
    at: datetime
    notice: str


class TickOut(Schema):
    cards: int
    steps: int


@router.post("/calendar/years", response_model=LoadResultOut, responses=error_responses(401, 403, 422),
             summary="Load a year's official holiday schedule (recomputes provisional deadlines)")  # fmt: skip
async def load_year(
    schedule: YearSchedule, session: SessionDep, principal: CurrentPrincipal
) -> Any:
    authorize(principal, "calendar.manage")
    return await calendar_service.load_year(session, principal, schedule)


@router.get("/calendar/years", response_model=list[CalendarYearOut], responses=error_responses(401))
async def list_years(session: SessionDep, principal: CurrentPrincipal) -> Any:
    return list((await session.scalars(select(CalendarYear).order_by(CalendarYear.year))).all())


@router.get("/calendar/deadline", response_model=DeadlineOut, responses=error_responses(401, 422),
            summary="Compute a working-day deadline")  # fmt: skip
async def compute_deadline(
    session: SessionDep,
    principal: CurrentPrincipal,
    start: datetime,
    working_days: Annotated[int, Query(ge=1, le=250)] = 5,
) -> DeadlineOut:
    if start.tzinfo is None:
        from services.errors import BadRequest

        raise BadRequest(
            "start 须带时区", "start needs a UTC offset", code="naive_datetime", status_code=422
        )
    if not date(1990, 1, 1) <= start.date() <= date(2200, 1, 1):
        from services.errors import BadRequest

        raise BadRequest(
            "日期超出范围", "Date out of range", code="date_out_of_range", status_code=422
        )
    calendar = await calendar_provider.get(session)
    deadline = calendar.add_working_days(start, working_days)
    return DeadlineOut(
        start=start,
        working_days=working_days,
        due_at=deadline.due_at,
        provisional=deadline.provisional,
    )


@router.get(
    "/supervision/events",
    response_model=list[SupervisionEventOut],
    responses=error_responses(401, 403),
)
async def supervision_events(
    session: SessionDep,
    principal: CurrentPrincipal,
    level: SupervisionLevel | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SupervisionEventOut]:
    authorize(principal, "supervision.read")
    stmt = (
        select(SupervisionEvent, Case.tracking_no, OrgUnit.code, OrgUnit.path)
        .join(Case, Case.id == SupervisionEvent.case_id)
        .join(OrgUnit, OrgUnit.id == SupervisionEvent.unit_id)
        .order_by(SupervisionEvent.at.desc())
        .limit(limit)
    )
    if level is not None:
        stmt = stmt.where(SupervisionEvent.level == level.value)
    subtree = list_scope(principal).subtree
    if subtree is not None:
        stmt = stmt.where(OrgUnit.path.startswith(subtree))
    rows = (await session.execute(stmt)).all()
    return [
        SupervisionEventOut(
            id=e.id,
            card_id=e.card_id,
            case_id=e.case_id,
            tracking_no=no,
            unit_code=code,
            level=SupervisionLevel(e.level),
            due_at=e.due_at,
            at=e.at,
            notice=e.notice,
        )  # fmt: skip
        for e, no, code, path in rows
        if in_scope(principal, path) or principal.unit_path == "/"
    ]


@router.get(
    "/supervision/overdue",
    responses=error_responses(401, 403),
    summary="Open cards past their due time",
)
async def overdue_cards(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    authorize(principal, "supervision.read")
    now = utcnow()
    stmt = (
        select(Card, Case.tracking_no, OrgUnit.code, OrgUnit.name, OrgUnit.path)
        .join(Case, Case.id == Card.case_id)
        .join(OrgUnit, OrgUnit.id == Card.unit_id)
        .where(Card.status.in_(["dispatched", "signed"]), Card.due_at < now)
        .order_by(Card.due_at)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return [
        {"card_id": str(card.id), "tracking_no": no, "unit_code": code, "unit_name": name,
         "due_at": card.due_at.isoformat(), "supervision_level": card.supervision_level, "listed": card.listed}
        for card, no, code, name, path in rows
        if in_scope(principal, path)
    ]  # fmt: skip


@router.post("/supervision/tick", response_model=TickOut, responses=error_responses(401, 403),
             summary="Run one supervision pass now (ops; the worker runs it every few seconds)")  # fmt: skip
async def run_tick(session: SessionDep, principal: CurrentPrincipal) -> Any:
    authorize(principal, "calendar.manage")
    return await supervision_service.tick(session)
