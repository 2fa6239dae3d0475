from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from scoring_service.feedback.exceptions import RatingNotFound
from scoring_service.feedback.schemas import (
    FeedbackIn,
    FeedbackOut,
    PlatformRatingIn,
    RatingOut,
    RedoIn,
    RevisitOut,
    StaffRatingIn,
    VisitBatchIn,
    VisitBatchOut,
)
from scoring_service.feedback.service import cases_in_scope, feedback_service
from scoring_service.models import CaseFact, Feedback, Rating, RevisitTask, VisitFact
from services.auth import BearerPrincipal
from services.db import SessionDep
from services.errors import BadRequest, error_responses
from services.models import utcnow
from services.policy import authorize
from services.responses import JSONResponse
from shared.calendar import SHANGHAI

router = APIRouter(prefix="/v1", tags=["feedback"])
ERRORS = error_responses(401, 403, 404, 409, 422)


@router.get(
    "/revisits",
    response_model=list[RevisitOut],
    responses=error_responses(401, 403),
    summary="回访任务",
)
async def list_revisits(
    session: SessionDep,
    principal: BearerPrincipal,
    status: str = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RevisitOut]:
    authorize(principal, "feedback.read")
    rows = (await session.execute(
        select(RevisitTask, CaseFact).join(CaseFact, CaseFact.case_id == RevisitTask.case_id)
        .where(RevisitTask.status == status, cases_in_scope(principal))
        .order_by(RevisitTask.due_at).limit(limit)
    )).all()  # fmt: skip
    now = utcnow()
    return [
        RevisitOut(
            id=task.id,
            case_id=task.case_id,
            tracking_no=case.tracking_no,
            channel=case.channel,
            anonymous=case.anonymous,
            round=task.round,
            status=task.status,
            due_at=task.due_at,
            overdue=task.status == "open" and task.due_at < now,
            submitter=case.submitter,
        )  # fmt: skip
        for task, case in rows
    ]


@router.post(
    "/cases/{case_id}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses=ERRORS,
    summary="记录反馈",
)
async def record_feedback(
    case_id: uuid.UUID, data: FeedbackIn, session: SessionDep, principal: BearerPrincipal
) -> Feedback:
    authorize(principal, "feedback.record")
    case = await feedback_service.case(session, case_id, principal)
    return await feedback_service.record_feedback(session, principal, case, data)


@router.get(
    "/cases/{case_id}/feedback",
    response_model=list[FeedbackOut],
    responses=error_responses(401, 403, 404),
)
async def list_feedback(
    case_id: uuid.UUID, session: SessionDep, principal: BearerPrincipal
) -> list[Feedback]:
    authorize(principal, "feedback.read")
    await feedback_service.case(session, case_id, principal)
    return list(
        (
            await session.scalars(
                select(Feedback).where(Feedback.case_id == case_id).order_by(Feedback.at)
            )
        ).all()
    )


@router.post("/cases/{case_id}/ratings", response_model=RatingOut, status_code=201, responses=ERRORS,
             summary="Record a rating taken on a visit or at a symposium (现场测评)")  # fmt: skip
async def staff_rating(
    case_id: uuid.UUID, data: StaffRatingIn, session: SessionDep, principal: BearerPrincipal
) -> JSONResponse:
    authorize(principal, "feedback.record")
    case = await feedback_service.case(session, case_id, principal)
    rating, created = await feedback_service.rate(session, case, data, source="staff", method=data.method,
                                                  recorded_by=principal.actor)  # fmt: skip
    await session.flush()
    return JSONResponse(
        RatingOut.model_validate(rating).model_dump(mode="json"),
        status_code=201 if created else 200,
    )


@router.post("/ratings/by-platform", response_model=RatingOut, status_code=201, responses=ERRORS,
             summary="A submitter's rating through the platform, relayed by the intake service")  # fmt: skip
async def platform_rating(
    data: PlatformRatingIn, session: SessionDep, principal: BearerPrincipal
) -> JSONResponse:
    authorize(principal, "rating.relay")
    case = await feedback_service.case_by_tracking(session, data.tracking_no)
    rating, created = await feedback_service.rate(session, case, data, source="platform",
                                                  method="original_channel", recorded_by="submitter")  # fmt: skip
    await session.flush()
    return JSONResponse(
        RatingOut.model_validate(rating).model_dump(mode="json"),
        status_code=201 if created else 200,
    )


@router.get(
    "/cases/{case_id}/ratings",
    response_model=list[RatingOut],
    responses=error_responses(401, 403, 404),
)
async def list_ratings(
    case_id: uuid.UUID, session: SessionDep, principal: BearerPrincipal
) -> list[Rating]:
    authorize(principal, "feedback.read")
    await feedback_service.case(session, case_id, principal)
    return list(
        (
            await session.scalars(
                select(Rating).where(Rating.case_id == case_id).order_by(Rating.round)
            )
        ).all()
    )


@router.post("/ratings/{rating_id}/redo", response_model=RatingOut, responses=ERRORS | error_responses(503),
             summary="发回重办: reopen the case in routing")  # fmt: skip
async def order_redo(
    rating_id: uuid.UUID,
    data: RedoIn,
    request: Request,
    session: SessionDep,
    principal: BearerPrincipal,
) -> Any:
    authorize(principal, "case.redo")
    rating = await session.get(Rating, rating_id)
    if rating is None:
        raise RatingNotFound()
    await feedback_service.case(session, rating.case_id, principal)
    return await feedback_service.order_redo(
        session, request.app.state.http, principal, rating, data.reason
    )


@router.post("/visits", response_model=VisitBatchOut, status_code=201, responses=error_responses(401, 403, 422),
             summary="Log center visits to enterprises and merchants (走访)")  # fmt: skip
async def log_visits(
    data: VisitBatchIn, session: SessionDep, principal: BearerPrincipal
) -> VisitBatchOut:
    authorize(principal, "feedback.record")
    today = utcnow().astimezone(SHANGHAI).date()
    for visit in data.visits:
        if not date(2000, 1, 1) <= visit.visited_on <= today:
            raise BadRequest(
                "走访日期不合理",
                "Visit date out of range",
                code="invalid_visit_date",
                status_code=422,
            )
        session.add(VisitFact(id=uuid.uuid4(), channel="visit", target_kind=visit.target_kind,
                              target_key=visit.uscc or visit.target_name, target_name=visit.target_name,
                              visited_on=visit.visited_on, recorded_by=principal.actor[:120]))  # fmt: skip
    return VisitBatchOut(recorded=len(data.visits))
