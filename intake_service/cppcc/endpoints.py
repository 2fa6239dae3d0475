"""CPPCC "165" express API (政协委员营商环境直通车): liaison stations, members, visits, summary.

Every route needs a channel API key whose scope is ``cppcc_165`` (or ``*``); every POST honours
``Idempotency-Key`` (a retry replays the first answer and creates nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.cppcc.exceptions import CppccChannelNotAllowed
from intake_service.cppcc.repository import VisitFilter
from intake_service.cppcc.schemas import (
    MemberCreate,
    MemberDetail,
    MemberImport,
    MemberImportOut,
    MemberOut,
    MemberPage,
    StationCreate,
    StationOut,
    Summary,
    TargetKind,
    VisitCreate,
    VisitCreated,
    VisitDetail,
    VisitPage,
)
from intake_service.cppcc.service import cppcc_service
from intake_service.issue.dependencies import ChannelClient
from intake_service.issue.endpoints import receipt_for
from intake_service.issue.service import ANY_CHANNEL
from intake_service.models import IdempotencyRecord
from services.api_keys import ApiKeyIdentity
from services.db import SessionDep
from services.errors import error_responses
from services.idempotency import respond_idempotently
from shared.enums import Channel
from shared.schemas.base import Schema

router = APIRouter(prefix="/v1/cppcc", tags=["cppcc-165"])

MAX_PAGE = 200
MAX_MEMBER_PAGE = 500
MAX_OFFSET = 1_000_000_000


async def cppcc_client(client: ChannelClient) -> ApiKeyIdentity:
    if client.scope not in (ANY_CHANNEL, Channel.cppcc_165.value):
        raise CppccChannelNotAllowed()
    return client


CppccClient = Annotated[ApiKeyIdentity, Depends(cppcc_client)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


async def _once(
    request: Request,
    session: AsyncSession,
    client: ApiKeyIdentity,
    payload: Schema,
    produce: Callable[[], Awaitable[Schema]],
) -> Any:
    """Run a create once per Idempotency-Key of this client."""
    return await respond_idempotently(
        request, session, IdempotencyRecord, client_id=str(client.key_id),
        body=payload.model_dump(mode="json"), produce=produce, status_code=status.HTTP_201_CREATED,
    )  # fmt: skip


# ---- liaison stations (联络站) ---------------------------------------------------------------


@router.post(
    "/stations",
    status_code=status.HTTP_201_CREATED,
    response_model=StationOut,
    responses=error_responses(401, 403, 409, 422),
    summary="Create a liaison station (联络站)",
)
async def create_station(
    request: Request, data: StationCreate, session: SessionDep, client: CppccClient
) -> Any:
    return await _once(
        request, session, client, data, lambda: cppcc_service.create_station(session, data)
    )


@router.get(
    "/stations",
    response_model=list[StationOut],
    responses=error_responses(401, 403),
    summary="Liaison stations with their member counts",
)
async def list_stations(session: SessionDep, _client: CppccClient) -> list[StationOut]:
    return await cppcc_service.list_stations(session)


# ---- members (政协委员) ----------------------------------------------------------------------


@router.post(
    "/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberOut,
    responses=error_responses(401, 403, 409, 422),
    summary="Register a CPPCC member with a liaison station",
)
async def create_member(
    request: Request, data: MemberCreate, session: SessionDep, client: CppccClient
) -> Any:
    return await _once(
        request, session, client, data, lambda: cppcc_service.create_member(session, data)
    )


@router.post(
    "/members/import",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberImportOut,
    responses=error_responses(401, 403, 409, 422),
    summary="Import up to 500 members at once (all or nothing; row errors in details)",
)
async def import_members(
    request: Request, data: MemberImport, session: SessionDep, client: CppccClient
) -> Any:
    async def produce() -> MemberImportOut:
        members = await cppcc_service.import_members(session, data.members)
        return MemberImportOut(imported=len(members), members=members)

    return await _once(request, session, client, data, produce)


@router.get(
    "/members",
    response_model=MemberPage,
    responses=error_responses(401, 403, 422),
    summary="Members, optionally of one station",
)
async def list_members(
    session: SessionDep,
    _client: CppccClient,
    station_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MEMBER_PAGE)] = 100,
    offset: Offset = 0,
) -> MemberPage:
    items, total = await cppcc_service.list_members(
        session, station_id=station_id, limit=limit, offset=offset
    )
    return MemberPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/members/{member_id}",
    response_model=MemberDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One member, with visits logged and issues collected",
)
async def get_member(
    member_id: uuid.UUID, session: SessionDep, _client: CppccClient
) -> MemberDetail:
    return await cppcc_service.get_member(session, member_id)


# ---- visits (进企业, 访商户) -----------------------------------------------------------------


@router.post(
    "/visits",
    status_code=status.HTTP_201_CREATED,
    response_model=VisitCreated,
    responses=error_responses(401, 403, 409, 422, 503),
    summary="Log a visit; each issue collected becomes a request (问题移交)",
)
async def record_visit(
    request: Request, data: VisitCreate, session: SessionDep, client: CppccClient
) -> Any:
    async def produce() -> VisitCreated:
        recorded = await cppcc_service.record_visit(session, data, client=client)
        receipts = [await receipt_for(session, issue, secret) for issue, secret in recorded.issues]
        return VisitCreated(**recorded.visit.model_dump(), receipts=receipts)

    return await _once(request, session, client, data, produce)


@router.get(
    "/visits",
    response_model=VisitPage,
    responses=error_responses(401, 403, 422),
    summary="Visits, newest first, filtered by member, station, date range and kind",
)
async def list_visits(
    session: SessionDep,
    _client: CppccClient,
    member_id: uuid.UUID | None = None,
    station_id: uuid.UUID | None = None,
    start: Annotated[date | None, Query(description="Visited on or after")] = None,
    end: Annotated[date | None, Query(description="Visited on or before")] = None,
    target_kind: TargetKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Offset = 0,
) -> VisitPage:
    where = VisitFilter(
        member_id=member_id,
        station_id=station_id,
        start=start,
        end=end,
        target_kind=target_kind.value if target_kind else None,
    )
    items, total = await cppcc_service.list_visits(session, where, limit=limit, offset=offset)
    return VisitPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/visits/{visit_id}",
    response_model=VisitDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One visit with its requests' tracking numbers and current statuses (跟踪问效)",
)
async def get_visit(visit_id: uuid.UUID, session: SessionDep, _client: CppccClient) -> VisitDetail:
    visit, requests = await cppcc_service.get_visit(session, visit_id)
    return VisitDetail(**visit.model_dump(), requests=requests)


# ---- summary --------------------------------------------------------------------------------


@router.get(
    "/summary",
    response_model=Summary,
    responses=error_responses(401, 403, 422),
    summary="Figures of the 165 express for a period (visits by visited_on, inclusive)",
)
async def summary(
    session: SessionDep,
    _client: CppccClient,
    start: date | None = None,
    end: date | None = None,
    station_id: uuid.UUID | None = None,
) -> Summary:
    return await cppcc_service.summary(
        session, VisitFilter(station_id=station_id, start=start, end=end)
    )
