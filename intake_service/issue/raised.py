"""Requests raised by another service: a blocker the center's agent meets on a project
(帮办代办中遇到的问题), raised by routing so that it is verified, dispatched, supervised and
rated like any other request. Service callers only (``request.raise``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status

from intake_service.issue.endpoints import receipt_for
from intake_service.issue.schemas import IssueReceipt, RaisedIssueCreate, created
from intake_service.issue.service import issue_service
from intake_service.models import IdempotencyRecord
from services import idempotency
from services.auth import BearerPrincipal
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize
from services.responses import resource_path

router = APIRouter(prefix="/v1/service", tags=["service"])


@router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    response_model=IssueReceipt,
    responses={**error_responses(401, 403, 422, 503), **created()},
    summary="Raise a request from another service (项目堵点诉求, services only)",
)
async def raise_request(
    request: Request, data: RaisedIssueCreate, session: SessionDep, principal: BearerPrincipal
) -> Any:
    """Routing raises a blocker of a project (`project_id`) on the 帮办代办 channel. It is
    received like any request (topic, duplicates, related requests, events) and the
    `request.submitted` event names the project. Answers with the normal receipt; `Location`
    is the tracking view. Honours `Idempotency-Key` (per calling service)."""
    authorize(principal, "request.raise")

    async def produce() -> IssueReceipt:
        issue, secret = await issue_service.submit(
            session, data, client=None, project_id=data.project_id
        )
        return await receipt_for(session, issue, secret)

    return await idempotency.respond_idempotently(
        request, session, IdempotencyRecord, client_id=principal.actor,
        body=data.model_dump(mode="json"), produce=produce, status_code=status.HTTP_201_CREATED,
        location=lambda body: resource_path(request, "track_request", tracking_no=body["tracking_no"]),
    )  # fmt: skip
