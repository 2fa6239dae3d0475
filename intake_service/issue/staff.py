"""Staff view of requests as received, including who submitted them.

A whistleblower's identity (举报 and other confidential or anonymous requests) opens only for the
discipline role, and only with a stated reason (X-Access-Reason); everyone else, and the
discipline role without a reason, sees it masked, as do the other services and the logs. Every
view that shows a submitter's name or phone is logged (intake_service.privacy).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Query
from pydantic import ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.issue.exceptions import IssueNotFound
from intake_service.issue.repository import IssueRepository
from intake_service.issue.service import SEARCH_FIELDS, issue_service, uscc_index
from intake_service.models import Issue
from intake_service.privacy.dependencies import AccessReason
from intake_service.privacy.repository import Revealed
from intake_service.privacy.service import (
    privacy_service,
    read_kind,
    reveals_identity,
    unsealed_submitter,
)
from services.auth import BearerPrincipal, Principal
from services.db import SessionDep
from services.errors import error_responses
from services.filters import check_forwards, within_days
from services.pagination import Key, Keyset, query_fingerprint, read_page
from services.policy import authorize_unscoped_read
from services.search import parse_query
from shared.enums import Channel, RequestStatus, RequestType, SubmitterKind, Topic, Urgency
from shared.events import SubmitterInfo
from shared.schemas.base import Instant, Schema
from shared.schemas.page import CursorPage
from shared.schemas.paging import Cursor

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
    received_at: Instant


Uscc = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")]
SORTS: dict[str, Keyset] = {
    "received": Keyset((Key(Issue.received_at, "datetime"), Key(Issue.id, "uuid"))),
    "-received": Keyset((Key(Issue.received_at, "datetime", True), Key(Issue.id, "uuid", True))),
    "updated": Keyset((Key(Issue.updated_at, "datetime"), Key(Issue.id, "uuid"))),
    "-updated": Keyset((Key(Issue.updated_at, "datetime", True), Key(Issue.id, "uuid", True))),
}


def _many() -> Any:
    return Field(default_factory=list, max_length=20)


class StaffRequestFilters(Schema):
    """Filters of the staff request list; unknown parameters and values are 422."""

    model_config = ConfigDict(extra="forbid")

    status: list[RequestStatus] = _many()
    topic: list[Topic] = _many()
    channel: list[Channel] = _many()
    type: list[RequestType] = _many()
    urgency: list[Urgency] = _many()
    submitter_kind: SubmitterKind | None = None
    uscc: Uscc | None = Field(
        None, description="Enterprise credit code (not of protected requests)"
    )
    confidential: bool | None = None
    received_from: date | None = Field(None, description="Received on or after (Asia/Shanghai)")
    received_to: date | None = Field(None, description="Received on or before (Asia/Shanghai)")
    q: str | None = Field(
        None, max_length=200,
        description="Chinese substring search over title, description, address, tracking number "
        "and (not for anonymous or confidential requests) enterprise name; 2–50 characters",
    )  # fmt: skip
    sort: Literal["received", "-received", "updated", "-updated", "relevance"] | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = None
    with_total: bool = False

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        check_forwards(self, ("received_from", "received_to"))
        return self

    def fingerprint_params(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"limit", "cursor", "with_total"})


StaffIssuePage = CursorPage[StaffIssueView]


def view(issue: Issue, principal: Principal, reason: str | None) -> StaffIssueView:
    """The request for this caller: a protected identity opened only when the call
    :func:`reveals_identity`; other submitters as they are (their reads are logged too)."""
    protected = issue.confidential or issue.anonymous
    reveal = protected and reveals_identity(principal, reason)
    submitter = unsealed_submitter(issue) if reveal else issue_service.submitter_for_events(issue)
    return StaffIssueView(
        id=str(issue.id), tracking_no=issue.tracking_no, channel=issue.channel, type=issue.type, topic=issue.topic,
        urgency=issue.urgency, title=issue.title, description=issue.description, address=issue.address,
        area_code=issue.area_code, status=issue.status, anonymous=issue.anonymous, confidential=issue.confidential,
        submitter=submitter, identity_revealed=reveal, recorded_by=issue.recorded_by,
        received_at=issue.received_at,
    )  # fmt: skip


async def logged_views(
    session: AsyncSession,
    principal: Principal,
    issues: Sequence[Issue],
    reason: str | None,
    endpoint: str,
) -> list[StaffIssueView]:
    """The views, with one log row per request whose submitter they show (written with the
    read, in one statement)."""
    views = [view(issue, principal, reason) for issue in issues]
    revealed = [
        Revealed(issue.id, issue.tracking_no, kind)
        for item, issue in zip(views, issues, strict=True)
        if (kind := read_kind(item.submitter, item.identity_revealed)) is not None
    ]
    await privacy_service.record_reads(session, principal, endpoint, revealed, reason)
    return views


@router.get(
    "/requests",
    response_model=StaffIssuePage,
    responses=error_responses(400, 401, 403, 422),
    summary="Requests as received: filter, search (q), sort, page by cursor",
    # The route name is the operationId (services/openapi.py): Open311 has a list_requests too.
    name="list_staff_requests",
)
async def list_requests(
    session: SessionDep,
    principal: BearerPrincipal,
    filters: Annotated[StaffRequestFilters, Query()],
    reason: AccessReason,
) -> StaffIssuePage:
    """Requests as received, for staff with the request-reading role (bearer token). Filters
    combine; `q` searches Chinese text; pages by cursor. Anonymous and confidential submitters
    are masked except for the discipline role with `X-Access-Reason`; every item showing a
    submitter's name or phone is logged (GET /v1/audit/identity-access)."""
    authorize_unscoped_read(principal, "request.read")
    search = parse_query(filters.q)
    stmt = select(Issue)
    for column, values in ((Issue.status, filters.status), (Issue.topic, filters.topic),
                           (Issue.channel, filters.channel), (Issue.type, filters.type),
                           (Issue.urgency, filters.urgency)):  # fmt: skip
        if values:
            stmt = stmt.where(column.in_([v.value for v in values]))
    if filters.confidential is not None:
        stmt = stmt.where(Issue.confidential.is_(filters.confidential))
    if filters.submitter_kind:
        stmt = stmt.where(Issue.submitter_kind == filters.submitter_kind.value)
    if filters.uscc:
        stmt = stmt.where(Issue.uscc_index == uscc_index(filters.uscc))
        if not reveals_identity(principal, reason):
            # A credit code must not find an anonymous or confidential submitter: only the
            # discipline role does, with a reason, and the finds are logged as opened.
            stmt = stmt.where(Issue.anonymous.is_(False), Issue.confidential.is_(False))
    stmt = stmt.where(*within_days(Issue.received_at, filters.received_from, filters.received_to))
    sort = filters.sort or ("relevance" if search else "-received")
    keyset = SORTS.get(sort, SORTS["-received"])
    tiers: list[Any] = []
    if search is not None:
        dialect = session.get_bind().dialect.name
        # A protected submitter's enterprise is in neither the index nor the match, for every
        # role: the discipline commission finds such requests by credit code (uscc=), exactly.
        enterprise = case((Issue.anonymous | Issue.confidential, None), else_=Issue.enterprise_name)
        fields = [[enterprise if name == "enterprise_name" else getattr(Issue, name) for name in tier]
                  for tier in SEARCH_FIELDS]  # fmt: skip
        await search.learn(session, Issue.__tablename__)
        if sort == "relevance":
            tiers = search.tiers(dialect, Issue.search_grams, fields)
        else:
            stmt = stmt.where(search.condition(dialect, Issue.search_grams, fields))
    rows, next_cursor, total = await read_page(
        session, stmt, keyset, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total, tiers=tiers,
    )  # fmt: skip
    return StaffIssuePage(
        items=await logged_views(session, principal, rows, reason, "list_staff_requests"),
        next_cursor=next_cursor, limit=filters.limit, total=total,
    )  # fmt: skip


@router.get(
    "/requests/{tracking_no}",
    response_model=StaffIssueView,
    responses=error_responses(401, 403, 404),
    summary="One request as received (staff)",
    name="get_staff_request",  # Open311 has a get_request
)
async def get_request(
    tracking_no: str, session: SessionDep, principal: BearerPrincipal, reason: AccessReason
) -> StaffIssueView:
    """One request as received, by tracking number, for staff with the request-reading role
    (bearer token); a protected submitter is masked except for the discipline role with
    `X-Access-Reason`. A view showing a submitter's name or phone is logged."""
    authorize_unscoped_read(principal, "request.read")
    issue = await IssueRepository.from_session(session).get_by_tracking_no(tracking_no[:32].upper())
    if issue is None:
        raise IssueNotFound()
    (found,) = await logged_views(session, principal, [issue], reason, "get_staff_request")
    return found
