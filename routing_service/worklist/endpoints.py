"""Where staff find their work: the case and card lists (filters, sort, search, cursor pages)
and the queues with their counts, each linking to the list that shows it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from routing_service.assignment.endpoints import card_out, cases_out
from routing_service.assignment.repository import UnitRepository
from routing_service.assignment.schemas import CardOut, CaseOut
from routing_service.auth import CurrentPrincipal
from routing_service.models import Case
from routing_service.worklist.filters import ListQuery
from routing_service.worklist.queues import queues_for
from routing_service.worklist.schemas import CardFilters, CaseFilters, QueuesOut
from services.db import SessionDep
from services.errors import error_responses
from services.pagination import query_fingerprint, read_page
from services.policy import authorize
from shared.schemas.page import CursorPage

router = APIRouter(prefix="/v1", tags=["worklist"])
LIST_ERRORS = error_responses(400, 401, 403, 422)


@router.get(
    "/cases",
    response_model=CursorPage[CaseOut],
    responses=LIST_ERRORS,
    summary="Cases in your scope: filter, search (q), sort, page by cursor",
)
async def list_cases(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[CaseFilters, Query()],
) -> CursorPage[CaseOut]:
    """The cases in the caller's scope (case.read: a center its subtree, a department the cases
    carded to it, auditors and admins all), filtered, searched (`q`, ranked by relevance) and
    sorted. Cursor pages: pass `next_cursor` back as `cursor`; `with_total=true` adds a count."""
    authorize(principal, "case.read")
    stmt, keyset, tiers = await ListQuery(session, principal).cases(filters)
    rows, next_cursor, total = await read_page(
        session, stmt, keyset, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total, tiers=tiers,
    )  # fmt: skip
    return CursorPage[CaseOut](
        items=await cases_out(session, rows),
        next_cursor=next_cursor, limit=filters.limit, total=total,
    )  # fmt: skip


@router.get(
    "/cards",
    response_model=CursorPage[CardOut],
    responses=LIST_ERRORS,
    summary="Cards in your scope (a department: its own): filter, sort, page by cursor",
)
async def list_cards(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[CardFilters, Query()],
) -> CursorPage[CardOut]:
    """The cards in the caller's scope (a department: its own), filtered and sorted, by default the
    next due first. Readers of cases (case.read); cursor pages as for `/v1/cases`."""
    authorize(principal, "case.read")
    stmt, keyset = await ListQuery(session, principal).cards(filters)
    rows, next_cursor, total = await read_page(
        session, stmt, keyset, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total,
    )  # fmt: skip
    units = await UnitRepository.from_session(session).by_ids([r.unit_id for r in rows])
    tracking: dict[uuid.UUID, str] = {}
    if rows:
        found = await session.execute(
            select(Case.id, Case.tracking_no).where(Case.id.in_({r.case_id for r in rows}))
        )
        tracking = {row.id: row.tracking_no for row in found}
    return CursorPage[CardOut](
        items=[card_out(r, units[r.unit_id], tracking[r.case_id]) for r in rows],
        next_cursor=next_cursor, limit=filters.limit, total=total,
    )  # fmt: skip


@router.get(
    "/queues",
    response_model=QueuesOut,
    responses=error_responses(401, 403),
    summary="Your queues with their counts (工作台), each with the list that shows it",
)
async def list_queues(session: SessionDep, principal: CurrentPrincipal) -> QueuesOut:
    """The caller's work queues (工作台) with their counts and earliest deadlines, each naming the
    filtered list that shows it. Staff and department keys (queue.read)."""
    authorize(principal, "queue.read")
    return await queues_for(session, principal)
