"""CPPCC "165" express API (政协委员营商环境直通车): liaison stations, members, visits, summary.

Every route needs a channel API key whose scope is ``cppcc_165`` (or ``*``); every POST honours
``Idempotency-Key`` (a retry replays the first answer and creates nothing) and names what it
created in ``Location``. Lists page by cursor (``limit``, ``cursor``, ``with_total``).
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
    MemberFilters,
    MemberImport,
    MemberImportOut,
    MemberOut,
    MemberPage,
    StationCreate,
    StationOut,
    Summary,
    VisitCreate,
    VisitCreated,
    VisitDetail,
    VisitFilters,
    VisitPage,
)
from intake_service.cppcc.service import cppcc_service
from intake_service.issue.dependencies import ChannelClient
from intake_service.issue.endpoints import receipt_for
from intake_service.issue.schemas import created
from intake_service.issue.service import ANY_CHANNEL
from intake_service.models import IdempotencyRecord
from services.api_keys import ApiKeyIdentity
from services.db import SessionDep
from services.errors import error_responses
from services.idempotency import ACCEPTS_IDEMPOTENCY_KEY, respond_idempotently
from services.responses import resource_path
from shared.enums import Channel
from shared.schemas.base import Schema

router = APIRouter(prefix="/v1/cppcc", tags=["cppcc-165"])


async def cppcc_client(client: ChannelClient) -> ApiKeyIdentity:
    if client.scope not in (ANY_CHANNEL, Channel.cppcc_165.value):
        raise CppccChannelNotAllowed()
    return client


CppccClient = Annotated[ApiKeyIdentity, Depends(cppcc_client)]


def _caller(client: ApiKeyIdentity) -> str:
    """Whose cursor it is: a page's cursor works only for the key that listed it."""
    return f"key:{client.key_id}"


async def _once(
    request: Request,
    session: AsyncSession,
    client: ApiKeyIdentity,
    payload: Schema,
    produce: Callable[[], Awaitable[Schema]],
    location: Callable[[Any], str],
) -> Any:
    """Run a create once per Idempotency-Key of this client; ``location`` names what it made
    from the answer's JSON (a replay carries the same)."""
    return await respond_idempotently(
        request, session, IdempotencyRecord, client_id=str(client.key_id),
        body=payload.model_dump(mode="json"), produce=produce, status_code=status.HTTP_201_CREATED,
        location=location,
    )  # fmt: skip


# ---- liaison stations (联络站) ---------------------------------------------------------------


@router.post(
    "/stations",
    status_code=status.HTTP_201_CREATED,
    response_model=StationOut,
    responses={**error_responses(401, 403, 409, 422, 429), **created()},
    summary="Create a liaison station (联络站)",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def create_station(
    request: Request, data: StationCreate, session: SessionDep, client: CppccClient
) -> Any:
    """A 165-express client creates a liaison station; its name is unique (409). A station has
    no page of its own: `Location` is the station list, which shows it with its member count."""
    return await _once(
        request, session, client, data, lambda: cppcc_service.create_station(session, data),
        lambda _body: resource_path(request, "list_stations"),
    )  # fmt: skip


@router.get(
    "/stations",
    response_model=list[StationOut],
    responses=error_responses(401, 403),
    summary="Liaison stations with their member counts",
)
async def list_stations(session: SessionDep, _client: CppccClient) -> list[StationOut]:
    """Every liaison station, oldest first, with its member count (a short list: not paged)."""
    return await cppcc_service.list_stations(session)


# ---- members (政协委员) ----------------------------------------------------------------------


@router.post(
    "/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberOut,
    responses={**error_responses(401, 403, 409, 422, 429), **created()},
    summary="Register a CPPCC member with a liaison station",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def create_member(
    request: Request, data: MemberCreate, session: SessionDep, client: CppccClient
) -> Any:
    """A 165-express client registers a member with a station (the same name and phone twice is
    409). `Location` is the member."""
    return await _once(
        request, session, client, data, lambda: cppcc_service.create_member(session, data),
        lambda body: resource_path(request, "get_member", member_id=body["id"]),
    )  # fmt: skip


@router.post(
    "/members/import",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberImportOut,
    responses={**error_responses(401, 403, 409, 422, 429), **created()},
    summary="Import up to 500 members at once (all or nothing; row errors in details)",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def import_members(
    request: Request, data: MemberImport, session: SessionDep, client: CppccClient
) -> Any:
    """A 165-express client registers up to 500 members in one go: every row is checked first
    and one bad row refuses them all, each row's error in `details`. An import is no resource:
    `Location` is the member list."""

    async def produce() -> MemberImportOut:
        members = await cppcc_service.import_members(session, data.members)
        return MemberImportOut(imported=len(members), members=members)

    return await _once(
        request,
        session,
        client,
        data,
        produce,
        lambda _body: resource_path(request, "list_members"),
    )


@router.get(
    "/members",
    response_model=MemberPage,
    responses=error_responses(401, 403, 422),
    summary="Members, optionally of one station, page by cursor",
)
async def list_members(
    session: SessionDep, client: CppccClient, filters: Annotated[MemberFilters, Query()]
) -> MemberPage:
    """Members in the order they were registered, for a 165-express client; up to 500 a page,
    `next_cursor` for the next, `with_total=true` for the count."""
    return await cppcc_service.list_members(session, filters, caller=_caller(client))


@router.get(
    "/members/{member_id}",
    response_model=MemberDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One member, with visits logged and issues collected",
)
async def get_member(
    member_id: uuid.UUID, session: SessionDep, _client: CppccClient
) -> MemberDetail:
    """One member for a 165-express client, with the visits logged and issues collected."""
    return await cppcc_service.get_member(session, member_id)


# ---- visits (进企业, 访商户) -----------------------------------------------------------------


@router.post(
    "/visits",
    status_code=status.HTTP_201_CREATED,
    response_model=VisitCreated,
    responses={**error_responses(401, 403, 409, 422, 503, 429), **created()},
    summary="Log a visit; each issue collected becomes a request (问题移交)",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def record_visit(
    request: Request, data: VisitCreate, session: SessionDep, client: CppccClient
) -> Any:
    """A 165-express client logs a member's visit to an enterprise or merchant; each issue
    collected is submitted as a request on the `cppcc_165` channel, its receipt (with the
    tracking secret, shown once) in `receipts`. `Location` is the visit."""

    async def produce() -> VisitCreated:
        recorded = await cppcc_service.record_visit(session, data, client=client)
        receipts = [await receipt_for(session, issue, secret) for issue, secret in recorded.issues]
        return VisitCreated(**recorded.visit.model_dump(), receipts=receipts)

    return await _once(
        request, session, client, data, produce,
        lambda body: resource_path(request, "get_visit", visit_id=body["id"]),
    )  # fmt: skip


@router.get(
    "/visits",
    response_model=VisitPage,
    responses=error_responses(401, 403, 422),
    summary="Visits, newest first, filtered by member, station, date range and kind",
)
async def list_visits(
    session: SessionDep, client: CppccClient, filters: Annotated[VisitFilters, Query()]
) -> VisitPage:
    """Visits for a 165-express client, the latest visit date first; up to 200 a page,
    `next_cursor` for the next, `with_total=true` for the count. `start` after `end` is 422
    `invalid_date_range`."""
    return await cppcc_service.list_visits(session, filters, caller=_caller(client))


@router.get(
    "/visits/{visit_id}",
    response_model=VisitDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One visit with its requests' tracking numbers and current statuses (跟踪问效)",
)
async def get_visit(visit_id: uuid.UUID, session: SessionDep, _client: CppccClient) -> VisitDetail:
    """One visit for a 165-express client, with the requests it became and their current
    statuses (跟踪问效)."""
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
    """The 165 express's figures for a period, for a 165-express client: stations, members,
    visits, targets, and the collected requests by topic and status."""
    return await cppcc_service.summary(
        session, VisitFilter(station_id=station_id, start=start, end=end)
    )
