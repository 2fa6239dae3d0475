"""One enterprise's requests as received and its "165" visits, for the routing service's
enterprise file (一企一档). Service callers only (``enterprise.requests.read``).

Anonymous and confidential requests are never part of the answer, whoever asks: a credit code
must not lead to a whistleblower. Every read is an index range on the credit code (its blind
index ``ix_issue_uscc_index``, ``ix_cppcc_visit_uscc``), so the cost follows the enterprise's
rows, not the tables. Only an enterprise's public registry identity is returned, no personal
field: these reads are not logged as identity access.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.issue.service import issue_service, uscc_index
from intake_service.models import CppccMember, CppccVisit, Issue, LiaisonStation
from services.auth import BearerPrincipal
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize
from shared.schemas.enterprise import (
    EnterpriseRecords,
    EnterpriseRecordsQuery,
    EnterpriseRequest,
    EnterpriseVisit,
    Section,
    Uscc,
)

router = APIRouter(prefix="/v1/service", tags=["service"])


async def _count(session: AsyncSession, stmt: Select[Any]) -> int:
    subquery = stmt.order_by(None).subquery()
    return int(await session.scalar(select(func.count()).select_from(subquery)) or 0)


async def _requests(
    session: AsyncSession, uscc: str, query: EnterpriseRecordsQuery
) -> Section[EnterpriseRequest]:
    stmt = select(Issue).where(
        Issue.uscc_index == uscc_index(uscc),
        Issue.anonymous.is_(False),
        Issue.confidential.is_(False),
    )
    if query.request_ids is not None:
        if not query.request_ids:
            return Section[EnterpriseRequest](items=[], total=0, truncated=False)
        stmt = stmt.where(Issue.id.in_(query.request_ids))
    rows = (
        await session.scalars(
            stmt.order_by(Issue.received_at.desc(), Issue.id.desc()).limit(query.limit + 1)
        )
    ).all()
    truncated = len(rows) > query.limit
    total = await _count(session, stmt.with_only_columns(Issue.id)) if truncated else len(rows)
    items = [
        EnterpriseRequest(
            id=issue.id,
            tracking_no=issue.tracking_no,
            channel=issue.channel,
            type=issue.type,
            topic=issue.topic,
            urgency=issue.urgency,
            title=issue.title,
            status=issue.status,
            # Never a protected request here: its registry name is plain, as events carry it.
            enterprise_name=issue_service.submitter_for_events(issue).enterprise_name,
            cppcc_visit_id=issue.cppcc_visit_id,
            duplicate=issue.duplicate_of_id is not None,
            received_at=issue.received_at,
        )  # fmt: skip
        for issue in rows[: query.limit]
    ]
    return Section[EnterpriseRequest](items=items, total=total, truncated=truncated)


async def _visits(
    session: AsyncSession, uscc: str, query: EnterpriseRecordsQuery
) -> Section[EnterpriseVisit]:
    where = [CppccVisit.uscc == uscc]
    if query.visit_ids is not None:
        if not query.visit_ids:
            return Section[EnterpriseVisit](items=[], total=0, truncated=False)
        where.append(CppccVisit.id.in_(query.visit_ids))
    stmt = (
        select(CppccVisit, CppccMember.name, LiaisonStation.name)
        .join(CppccMember, CppccMember.id == CppccVisit.member_id)
        .join(LiaisonStation, LiaisonStation.id == CppccMember.station_id)
        .where(*where)
        .order_by(CppccVisit.visited_on.desc(), CppccVisit.created_at.desc(), CppccVisit.id)
        .limit(query.limit + 1)
    )
    rows = (await session.execute(stmt)).all()
    truncated = len(rows) > query.limit
    total = await _count(session, select(CppccVisit.id).where(*where)) if truncated else len(rows)
    items = [
        EnterpriseVisit(
            id=visit.id,
            member_name=member_name,
            station_name=station_name,
            target_kind=visit.target_kind,
            target_name=visit.target_name,
            area_code=visit.area_code,
            visited_on=visit.visited_on,
            findings=visit.findings,
            issue_count=visit.issue_count,
        )  # fmt: skip
        for visit, member_name, station_name in rows[: query.limit]
    ]
    return Section[EnterpriseVisit](items=items, total=total, truncated=truncated)


@router.post(
    "/enterprises/{uscc}/records",
    response_model=EnterpriseRecords,
    responses=error_responses(401, 403, 422),
    summary="One enterprise's requests and 165 visits, for the enterprise file (services only)",
    description="A read: POST because a scoped caller's ids (up to 200 of each) travel in the "
    "body. Anonymous and confidential requests are never included.",
)
async def enterprise_records(
    uscc: Annotated[Uscc, Path(description="统一社会信用代码")],
    query: EnterpriseRecordsQuery,
    session: SessionDep,
    principal: BearerPrincipal,
) -> EnterpriseRecords:
    authorize(principal, "enterprise.requests.read")
    return EnterpriseRecords(
        requests=await _requests(session, uscc, query),
        visits=await _visits(session, uscc, query),
    )
