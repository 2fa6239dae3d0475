"""The identity-access log for auditors, and the submitter's erasure of a withdrawn request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from intake_service.issue.dependencies import OwnedIssue
from intake_service.privacy.repository import IdentityAccessRepository
from intake_service.privacy.schemas import (
    ErasureOut,
    IdentityAccessFilters,
    IdentityAccessOut,
    IdentityAccessPage,
)
from intake_service.privacy.service import privacy_service
from services.auth import BearerPrincipal
from services.db import SessionDep
from services.errors import error_responses
from services.pagination import query_fingerprint
from services.policy import authorize

# Tags per route: an operation has exactly one.
router = APIRouter(prefix="/v1")


@router.get(
    "/audit/identity-access",
    response_model=IdentityAccessPage,
    responses=error_responses(400, 401, 403, 422),
    summary="Who read or erased requests' personal data (个人信息访问记录)",
    tags=["audit"],
)
async def list_identity_access(
    session: SessionDep,
    principal: BearerPrincipal,
    filters: Annotated[IdentityAccessFilters, Query()],
) -> IdentityAccessPage:
    """Every staff read that showed a submitter's name or phone, every whistleblower identity
    opened by the discipline role (with its reason) and every erasure, newest first; filters
    combine, pages by cursor. Names who, when, which request, through which operation and why,
    never the values. Auditors and admins (audit.identity_access.read)."""
    authorize(principal, "audit.identity_access.read")
    rows, next_cursor, total = await IdentityAccessRepository.from_session(session).page(
        filters, query_fingerprint(principal.actor, filters.fingerprint_params())
    )
    return IdentityAccessPage(
        items=[IdentityAccessOut.model_validate(row) for row in rows],
        next_cursor=next_cursor, limit=filters.limit, total=total,
    )  # fmt: skip


@router.post(
    "/requests/{tracking_no}/erasure",
    response_model=ErasureOut,
    responses=error_responses(404, 409, 422, 429),
    summary="Erase the submitter's personal data of a withdrawn request (删除个人信息)",
    tags=["requests"],
)
async def erase_request_personal_data(issue: OwnedIssue, session: SessionDep) -> ErasureOut:
    """The submitter (X-Tracking-Secret or X-Submitter-Phone) has their name, phone and e-mail
    erased from a withdrawn request, here and in the copies the case and its figures keep;
    the request stays trackable with the tracking secret (no longer with the phone). Asking
    again answers the same `erased_at`; 409 `erasure_not_allowed` unless withdrawn."""
    erased = await privacy_service.erase_on_request(session, issue, "erase_request_personal_data")
    assert erased.personal_erased_at is not None
    return ErasureOut(tracking_no=erased.tracking_no, erased_at=erased.personal_erased_at)
