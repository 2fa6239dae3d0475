"""The enterprise file (一企一档): ``GET /v1/enterprises/{uscc}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from routing_service.auth import CurrentPrincipal
from routing_service.enterprise.schemas import EnterpriseFileOut
from routing_service.enterprise.service import enterprise_service
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize
from shared.schemas.enterprise import Uscc

router = APIRouter(prefix="/v1", tags=["enterprises"])


@router.get(
    "/enterprises/{uscc}",
    response_model=EnterpriseFileOut,
    responses=error_responses(401, 403, 422),
    summary="The enterprise file (一企一档): one credit code's requests, cases, cards, ratings "
    "and 165 visits, in your scope",
    description="Staff only. Cases and cards are those of your scope (a street center: its "
    "subtree's; a department: the cases carded to it). Anonymous and confidential requests are "
    "never part of the file. Each section lists at most 200 most recent items (`truncated`); "
    "the figures count everything in scope. When intake or scoring cannot be reached the file "
    "is answered without their parts, named in `partial`.",
)
async def enterprise_file(
    uscc: Annotated[Uscc, Path(description="统一社会信用代码 (18 characters)")],
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> EnterpriseFileOut:
    authorize(principal, "enterprise.read")
    return await enterprise_service.file(session, request.app.state.http, principal, uscc)
