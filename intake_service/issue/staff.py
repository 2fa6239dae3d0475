"""Staff view of requests as received, including who submitted them.

A whistleblower's identity (举报 and other confidential or anonymous requests) is readable only by
the discipline role; everyone else sees it masked, as do the other services and the logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from intake_service.issue.exceptions import IssueNotFound
from intake_service.issue.repository import IssueRepository
from intake_service.issue.service import issue_service
from intake_service.models import Issue
from services.auth import BearerPrincipal, Principal
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize_unscoped_read, can
from shared.enums import SubmitterKind
from shared.events import SubmitterInfo
from shared.schemas.base import Schema

router = APIRouter(prefix="/v1/staff", tags=["staff"])


class StaffIssueView(Schema):
    id: str
    tracking_no: str
    channel: str
    type: str
    topic: str
    urgency: str
    title: str
    description: str
    address: str | None
    area_code: str | None
    status: str
    anonymous: bool
    confidential: bool
    submitter: SubmitterInfo
    identity_revealed: bool
    recorded_by: str | None
    received_at: datetime


class StaffIssuePage(Schema):
    items: list[StaffIssueView]
    total: int


def view(issue: Issue, principal: Principal) -> StaffIssueView:
    protected = issue.confidential or issue.anonymous
    reveal = not protected or can(principal, "case.identity")
    submitter = (
        SubmitterInfo(
            kind=SubmitterKind(issue.submitter_kind),
            name=issue.submitter_name,
            phone=issue.submitter_phone,
            uscc=issue.uscc,
            enterprise_name=issue.enterprise_name,
        )  # fmt: skip
        if reveal
        else issue_service.submitter_for_events(issue)
    )
    return StaffIssueView(
        id=str(issue.id), tracking_no=issue.tracking_no, channel=issue.channel, type=issue.type, topic=issue.topic,
        urgency=issue.urgency, title=issue.title, description=issue.description, address=issue.address,
        area_code=issue.area_code, status=issue.status, anonymous=issue.anonymous, confidential=issue.confidential,
        submitter=submitter, identity_revealed=reveal and protected, recorded_by=issue.recorded_by,
        received_at=issue.received_at,
    )  # fmt: skip


@router.get("/requests", response_model=StaffIssuePage, responses=error_responses(401, 403))
async def list_requests(
    session: SessionDep,
    principal: BearerPrincipal,
    confidential: bool | None = None,
    channel: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> StaffIssuePage:
    authorize_unscoped_read(principal, "request.read")
    stmt = select(Issue)
    if confidential is not None:
        stmt = stmt.where(Issue.confidential.is_(confidential))
    if channel:
        stmt = stmt.where(Issue.channel == channel[:32])
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await session.scalars(stmt.order_by(Issue.received_at.desc()).limit(limit).offset(offset))
    ).all()
    return StaffIssuePage(items=[view(issue, principal) for issue in rows], total=total)


@router.get(
    "/requests/{tracking_no}",
    response_model=StaffIssueView,
    responses=error_responses(401, 403, 404),
)
async def get_request(
    tracking_no: str, session: SessionDep, principal: BearerPrincipal
) -> StaffIssueView:
    authorize_unscoped_read(principal, "request.read")
    issue = await IssueRepository.from_session(session).get_by_tracking_no(tracking_no[:32].upper())
    if issue is None:
        raise IssueNotFound()
    return view(issue, principal)
