from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import Select, select

from routing_service.assignment.repository import UnitRepository
from routing_service.auth import CurrentPrincipal
from routing_service.deadline.calendar import calendar_provider
from routing_service.deadline.service import calendar_service
from routing_service.deadline.supervision import supervision_service
from routing_service.models import CalendarYear, Card, Case, OrgUnit, SupervisionEvent
from services.auth import Principal
from services.db import SessionDep
from services.errors import error_responses
from services.models import utcnow
from services.pagination import Key, Keyset, query_fingerprint, read_page
from services.policy import authorize, list_scope
from shared.calendar import YearSchedule
from shared.enums import SupervisionLevel
from shared.schemas.base import Instant, Schema
from shared.schemas.page import CursorPage
from shared.schemas.paging import PageQuery

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
    loaded_at: Instant


class DeadlineOut(Schema):
    start: Instant
    working_days: int
    due_at: Instant
    provisional: bool


class SupervisionEventOut(Schema):
    id: uuid.UUID
    card_id: uuid.UUID
    case_id: uuid.UUID
    tracking_no: str
    unit_code: str
    level: SupervisionLevel
    due_at: Instant
    at: Instant
    notice: str


class TickOut(Schema):
    cards: int
    steps: int


class OverdueCardOut(Schema):
    card_id: uuid.UUID
    tracking_no: str
    unit_code: str
    unit_name: str
    due_at: Instant
    supervision_level: SupervisionLevel
    listed: bool = Field(description="Listed for supervision (挂牌督办)")


class SupervisionEventFilters(PageQuery):
    level: SupervisionLevel | None = Field(None, description="Only steps of this level")
    limit: int = Field(100, ge=1, le=500)


class OverdueFilters(PageQuery):
    limit: int = Field(200, ge=1, le=1000)


SupervisionEventPage = CursorPage[SupervisionEventOut]
OverdueCardPage = CursorPage[OverdueCardOut]
EVENT_ORDER = Keyset(
    (Key(SupervisionEvent.at, "datetime", True), Key(SupervisionEvent.id, "uuid", True))
)
OVERDUE_ORDER = Keyset((Key(Card.due_at, "datetime"), Key(Card.id, "uuid")))


@router.post("/calendar/years", response_model=LoadResultOut, responses=error_responses(401, 403, 422),
             summary="Load a year's official holiday schedule (recomputes provisional deadlines)")  # fmt: skip
async def load_year(
    schedule: YearSchedule, session: SessionDep, principal: CurrentPrincipal
) -> Any:
    """Load a year's official State Council holiday schedule (holidays and make-up working days);
    deadlines computed provisionally for that year are recomputed. Admins only (calendar.manage).
    """
    authorize(principal, "calendar.manage")
    return await calendar_service.load_year(session, principal, schedule)


@router.get("/calendar/years", response_model=list[CalendarYearOut], responses=error_responses(401))
async def list_years(session: SessionDep, principal: CurrentPrincipal) -> Any:
    """The years whose official schedule has been loaded, with who loaded them and when. Any
    signed-in caller."""
    return list((await session.scalars(select(CalendarYear).order_by(CalendarYear.year))).all())


@router.get("/calendar/deadline", response_model=DeadlineOut, responses=error_responses(401, 422),
            summary="Compute a working-day deadline")  # fmt: skip
async def compute_deadline(
    session: SessionDep,
    principal: CurrentPrincipal,
    start: datetime,
    working_days: Annotated[int, Query(ge=1, le=250)] = 5,
) -> DeadlineOut:
    """The deadline `working_days` working days after `start` (which needs a UTC offset), by the
    official calendar; `provisional` when a year without a confirmed schedule is touched. Any
    signed-in caller."""
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


def _in_list_scope(stmt: Select[Any], principal: Principal) -> Select[Any]:
    """The list's rows in the caller's part of the org tree (``stmt`` joins ``OrgUnit``)."""
    scope = list_scope(principal)
    if scope.subtree is not None:
        stmt = stmt.where(OrgUnit.path.startswith(scope.subtree, autoescape=True))
    if scope.own_unit_code is not None:
        stmt = stmt.where(OrgUnit.code == scope.own_unit_code)
    return stmt


@router.get(
    "/supervision/events",
    response_model=SupervisionEventPage,
    responses=error_responses(400, 401, 403, 422),
)
async def supervision_events(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[SupervisionEventFilters, Query()],
) -> SupervisionEventPage:
    """The supervision ladder's steps (督办: reminders, yellow and red cards, listing,
    escalation), newest first, in the caller's subtree. Center staff, auditors, admins and the
    discipline commission (supervision.read)."""
    authorize(principal, "supervision.read")
    stmt = select(SupervisionEvent).join(OrgUnit, OrgUnit.id == SupervisionEvent.unit_id)
    if filters.level is not None:
        stmt = stmt.where(SupervisionEvent.level == filters.level.value)
    events, next_cursor, total = await read_page(
        session, _in_list_scope(stmt, principal), EVENT_ORDER, cursor=filters.cursor,
        limit=filters.limit, with_total=filters.with_total,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
    )  # fmt: skip
    units = await UnitRepository.from_session(session).by_ids([e.unit_id for e in events])
    tracking = await _tracking_numbers(session, {e.case_id for e in events})
    items = [
        SupervisionEventOut(
            id=e.id,
            card_id=e.card_id,
            case_id=e.case_id,
            tracking_no=tracking[e.case_id],
            unit_code=units[e.unit_id].code,
            level=SupervisionLevel(e.level),
            due_at=e.due_at,
            at=e.at,
            notice=e.notice,
        )  # fmt: skip
        for e in events
    ]
    return SupervisionEventPage(
        items=items, next_cursor=next_cursor, limit=filters.limit, total=total
    )


@router.get(
    "/supervision/overdue",
    response_model=OverdueCardPage,
    responses=error_responses(400, 401, 403, 422),
    summary="Open cards past their due time",
)
async def overdue_cards(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[OverdueFilters, Query()],
) -> OverdueCardPage:
    """Open cards (dispatched or signed) past their due time in the caller's subtree, the most
    overdue first. Center staff, auditors, admins and the discipline commission
    (supervision.read)."""
    authorize(principal, "supervision.read")
    stmt = (
        select(Card)
        .join(OrgUnit, OrgUnit.id == Card.unit_id)
        .where(Card.status.in_(["dispatched", "signed"]), Card.due_at < utcnow())
    )
    cards, next_cursor, total = await read_page(
        session, _in_list_scope(stmt, principal), OVERDUE_ORDER, cursor=filters.cursor,
        limit=filters.limit, with_total=filters.with_total,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
    )  # fmt: skip
    units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
    tracking = await _tracking_numbers(session, {c.case_id for c in cards})
    items = [
        OverdueCardOut(
            card_id=card.id,
            tracking_no=tracking[card.case_id],
            unit_code=units[card.unit_id].code,
            unit_name=units[card.unit_id].name,
            due_at=card.due_at,
            supervision_level=SupervisionLevel(card.supervision_level),
            listed=card.listed,
        )  # fmt: skip
        for card in cards
    ]
    return OverdueCardPage(items=items, next_cursor=next_cursor, limit=filters.limit, total=total)


async def _tracking_numbers(session: SessionDep, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not case_ids:
        return {}
    rows = await session.execute(select(Case.id, Case.tracking_no).where(Case.id.in_(case_ids)))
    return {row.id: row.tracking_no for row in rows}


@router.post("/supervision/tick", response_model=TickOut, responses=error_responses(401, 403),
             summary="Run one supervision pass now (ops; the worker runs it every few seconds)")  # fmt: skip
async def run_tick(session: SessionDep, principal: CurrentPrincipal) -> Any:
    """Run one supervision pass now (the worker runs it every few seconds) and say how many cards
    and steps it handled. Admins only (calendar.manage)."""
    authorize(principal, "calendar.manage")
    return await supervision_service.tick(session)
