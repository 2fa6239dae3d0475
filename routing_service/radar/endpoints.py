"""The hot-issue radar (热点问题) at ``/v1/hot-issues``: clusters in the caller's scope, the
thresholds, a proactive case for a cluster (主动治理), the month's theme (每月一题)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from routing_service.auth import CurrentPrincipal
from routing_service.radar.schemas import (
    HotIssueDetailOut,
    HotIssueFilters,
    HotIssueOut,
    MemberIn,
    ProactiveIn,
    RadarPolicyIn,
    RadarPolicyOut,
    ThemeIn,
)
from routing_service.radar.service import HOT_ISSUE_ORDER, radar_service
from services.db import SessionDep
from services.errors import error_responses
from services.pagination import query_fingerprint, read_page
from services.policy import authorize
from services.responses import set_location
from shared.schemas.page import CursorPage

router = APIRouter(prefix="/v1", tags=["hot-issues"])


@router.get(
    "/hot-issues/policy",
    response_model=RadarPolicyOut,
    responses=error_responses(401, 403),
    summary="The radar's thresholds and similarity in force",
)
async def get_radar_policy(session: SessionDep, principal: CurrentPrincipal) -> RadarPolicyOut:
    """When a cluster turns hot (distinct submitters within a window of days, each threshold
    told once) and how alike a request must be to join one. hot_issue.read."""
    authorize(principal, "hot_issue.read")
    return await radar_service.policy(session)


@router.put(
    "/hot-issues/policy",
    response_model=RadarPolicyOut,
    responses=error_responses(401, 403, 422),
    summary="Set the radar's thresholds (admins)",
)
async def set_radar_policy(
    body: RadarPolicyIn, session: SessionDep, principal: CurrentPrincipal
) -> RadarPolicyOut:
    """Up to five thresholds (2–1000 submitters within 1–90 days) and the similarity (0.1–0.95);
    applies to requests from now on. hot_issue.policy."""
    authorize(principal, "hot_issue.policy")
    return await radar_service.set_policy(session, principal, body)


@router.get(
    "/hot-issues",
    response_model=CursorPage[HotIssueOut],
    responses=error_responses(400, 401, 403, 422),
    summary="Clusters of related requests in your scope",
)
async def list_hot_issues(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[HotIssueFilters, Query()],
) -> CursorPage[HotIssueOut]:
    """Clusters whose street lies in the caller's subtree, latest request first; filters by
    topic, area subtree, state, a window (`since_days`) and distinct submitters. hot_issue.read."""
    authorize(principal, "hot_issue.read")
    stmt = await radar_service.list_statement(session, principal, filters)
    rows, next_cursor, total = await read_page(
        session, stmt, HOT_ISSUE_ORDER, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total,
    )  # fmt: skip
    return CursorPage[HotIssueOut](items=await radar_service.out(session, rows),
                                   next_cursor=next_cursor, limit=filters.limit, total=total)  # fmt: skip


@router.get(
    "/hot-issues/{hot_issue_id}",
    response_model=HotIssueDetailOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One cluster with its members and a trend per day",
)
async def get_hot_issue(
    hot_issue_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> HotIssueDetailOut:
    """The cluster, its member requests (oldest first), requests per day and the thresholds it
    crossed. hot_issue.read; another scope's cluster is a 404."""
    authorize(principal, "hot_issue.read")
    cluster = await radar_service.load(session, principal, hot_issue_id)
    return await radar_service.detail(session, cluster)


@router.post(
    "/hot-issues/{hot_issue_id}/members",
    response_model=HotIssueDetailOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Add a request the radar did not place",
)
async def add_hot_issue_member(
    hot_issue_id: uuid.UUID, body: MemberIn, session: SessionDep, principal: CurrentPrincipal
) -> HotIssueDetailOut:
    """A request of the same topic and street worded differently joins the cluster (and its
    proactive case, if open). A request in another cluster is 409 `already_clustered`.
    hot_issue.handle."""
    authorize(principal, "hot_issue.handle")
    cluster = await radar_service.load(session, principal, hot_issue_id, for_update=True)
    await radar_service.add_member(session, principal, cluster, body.tracking_no)
    return await radar_service.detail(session, cluster)


@router.post(
    "/hot-issues/{hot_issue_id}/proactive-case",
    status_code=status.HTTP_201_CREATED,
    response_model=HotIssueOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Open one proactive case for the cluster (主动治理)",
)
async def open_proactive_case(
    hot_issue_id: uuid.UUID, body: ProactiveIn, request: Request, response: Response,
    session: SessionDep, principal: CurrentPrincipal,
) -> HotIssueOut:  # fmt: skip
    """One case handles the whole cluster: accepted with its classification, dispatched like any
    case (`POST /v1/cases/{id}/dispatch`); every member request, and every one joining later,
    is linked to it, and when it is completed each submitter is told the result through their
    own channel and asked to rate. One per cluster. hot_issue.handle; `Location` is the case."""
    authorize(principal, "hot_issue.handle")
    cluster = await radar_service.load(session, principal, hot_issue_id, for_update=True)
    case = await radar_service.open_proactive(session, principal, cluster, body)
    set_location(response, request, "get_case", case_id=case.id)
    return (await radar_service.out(session, [cluster]))[0]


@router.post(
    "/hot-issues/{hot_issue_id}/theme",
    response_model=HotIssueOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Make the cluster the month's theme (每月一题)",
)
async def set_hot_issue_theme(
    hot_issue_id: uuid.UUID, body: ThemeIn, session: SessionDep, principal: CurrentPrincipal
) -> HotIssueOut:
    """One theme per street and month (409 `theme_taken`); statistics report it.
    hot_issue.theme."""
    authorize(principal, "hot_issue.theme")
    cluster = await radar_service.load(session, principal, hot_issue_id, for_update=True)
    await radar_service.set_theme(session, principal, cluster, body.month)
    return (await radar_service.out(session, [cluster]))[0]
