from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from scoring_service.feedback.exceptions import RatingNotFound
from scoring_service.feedback.schemas import (
    FeedbackIn,
    FeedbackOut,
    PlatformRatingIn,
    RedoIn,
    RevisitFilters,
    RevisitOut,
    RevisitPage,
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
from services.pagination import Key, Keyset, query_fingerprint, read_page
from services.policy import authorize
from services.responses import JSONResponse, set_location
from shared.calendar import SHANGHAI
from shared.schemas.rating import RatingOut

router = APIRouter(prefix="/v1", tags=["feedback"])
ERRORS = error_responses(401, 403, 404, 409, 422)
# The same rating sent again is the one already recorded: 200, not a second 201.
RATING_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": RatingOut, "description": "The same rating again: the one already recorded"},
    **ERRORS,
}
REVISIT_ORDER = Keyset((Key(RevisitTask.due_at, "datetime"), Key(RevisitTask.id, "uuid")))


def _rating_answer(request: Request, rating: Rating, created: bool) -> JSONResponse:
    answer = JSONResponse(
        RatingOut.model_validate(rating).model_dump(mode="json"),
        status_code=201 if created else 200,
    )
    if created:
        # One rating has no route of its own: the case's rating list shows it.
        set_location(answer, request, "list_ratings", case_id=rating.case_id)
    return answer


@router.get(
    "/revisits",
    response_model=RevisitPage,
    responses=error_responses(400, 401, 403, 422),
    summary="回访任务",
)
async def list_revisits(
    session: SessionDep,
    principal: BearerPrincipal,
    filters: Annotated[RevisitFilters, Query()],
) -> RevisitPage:
    """Revisit tasks (回访: ask the submitter whether the case was resolved) of the cases in the
    caller's scope, the earliest due first; open ones by default. Center staff, auditors and
    admins (feedback.read); cursor pages: pass `next_cursor` back as `cursor`."""
    authorize(principal, "feedback.read")
    stmt = (
        select(RevisitTask)
        .join(CaseFact, CaseFact.case_id == RevisitTask.case_id)
        .where(RevisitTask.status == filters.status, cases_in_scope(principal))
    )
    tasks, next_cursor, total = await read_page(
        session, stmt, REVISIT_ORDER, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total,
    )  # fmt: skip
    cases: dict[uuid.UUID, CaseFact] = {}
    if tasks:
        found = await session.scalars(
            select(CaseFact).where(CaseFact.case_id.in_({t.case_id for t in tasks}))
        )
        cases = {case.case_id: case for case in found}
    now = utcnow()
    items = [
        RevisitOut(
            id=task.id,
            case_id=task.case_id,
            tracking_no=cases[task.case_id].tracking_no,
            channel=cases[task.case_id].channel,
            anonymous=cases[task.case_id].anonymous,
            round=task.round,
            status=task.status,
            due_at=task.due_at,
            overdue=task.status == "open" and task.due_at < now,
            submitter=cases[task.case_id].submitter,
        )  # fmt: skip
        for task in tasks
    ]
    return RevisitPage(items=items, next_cursor=next_cursor, limit=filters.limit, total=total)


@router.post(
    "/cases/{case_id}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses=ERRORS,
    summary="记录反馈",
)
async def record_feedback(
    case_id: uuid.UUID,
    data: FeedbackIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: BearerPrincipal,
) -> Feedback:
    """Record how the center fed the result back to the submitter (original channel, visit or
    symposium with attendees and minutes) on a case ready for rating. Operators, supervisors,
    leaders and admins (feedback.record); answers 201 with `Location` naming the case's feedback
    list."""
    authorize(principal, "feedback.record")
    case = await feedback_service.case(session, case_id, principal)
    feedback = await feedback_service.record_feedback(session, principal, case, data)
    # One feedback has no route of its own: the case's feedback list shows it.
    set_location(response, request, "list_feedback", case_id=case_id)
    return feedback


@router.get(
    "/cases/{case_id}/feedback",
    response_model=list[FeedbackOut],
    responses=error_responses(401, 403, 404),
)
async def list_feedback(
    case_id: uuid.UUID, session: SessionDep, principal: BearerPrincipal
) -> list[Feedback]:
    """The feedback recorded on a case, oldest first. Center staff, auditors and admins
    (feedback.read), for a case in scope."""
    authorize(principal, "feedback.read")
    await feedback_service.case(session, case_id, principal)
    return list(
        (
            await session.scalars(
                select(Feedback).where(Feedback.case_id == case_id).order_by(Feedback.at)
            )
        ).all()
    )


@router.post("/cases/{case_id}/ratings", response_model=RatingOut, status_code=201, responses=RATING_ANSWERS,
             summary="Record a rating taken on a visit or at a symposium (现场测评)")  # fmt: skip
async def staff_rating(
    case_id: uuid.UUID,
    data: StaffRatingIn,
    request: Request,
    session: SessionDep,
    principal: BearerPrincipal,
) -> JSONResponse:
    """Record a rating taken on a visit or at a symposium (现场测评) for the case's current round; not
    for anonymous cases (platform only). Operators, supervisors, leaders and admins
    (feedback.record); 201 with `Location` (the case's ratings), or 200 when the same rating was
    already recorded."""
    authorize(principal, "feedback.record")
    case = await feedback_service.case(session, case_id, principal)
    rating, created = await feedback_service.rate(session, case, data, source="staff", method=data.method,
                                                  recorded_by=principal.actor)  # fmt: skip
    await session.flush()
    return _rating_answer(request, rating, created)


@router.post("/ratings/by-platform", response_model=RatingOut, status_code=201, responses=RATING_ANSWERS,
             summary="A submitter's rating through the platform, relayed by the intake service")  # fmt: skip
async def platform_rating(
    data: PlatformRatingIn, request: Request, session: SessionDep, principal: BearerPrincipal
) -> JSONResponse:
    """A submitter's rating through the platform (原渠道), relayed by the intake service only
    (rating.relay); 201 with `Location` (the case's ratings), or 200 when the same rating was
    already recorded."""
    authorize(principal, "rating.relay")
    case = await feedback_service.case_by_tracking(session, data.tracking_no)
    rating, created = await feedback_service.rate(session, case, data, source="platform",
                                                  method="original_channel", recorded_by="submitter")  # fmt: skip
    await session.flush()
    return _rating_answer(request, rating, created)


@router.get(
    "/cases/{case_id}/ratings",
    response_model=list[RatingOut],
    responses=error_responses(401, 403, 404),
)
async def list_ratings(
    case_id: uuid.UUID, session: SessionDep, principal: BearerPrincipal
) -> list[Rating]:
    """The ratings of a case, one per round. Center staff, auditors and admins (feedback.read), for
    a case in scope."""
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
    """发回重办: have routing reopen the case behind an unsatisfied rating that was the unit's fault.
    Supervisors, leaders and admins (case.redo); ordering it again changes nothing, and 503 when
    routing cannot be reached."""
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
    data: VisitBatchIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: BearerPrincipal,
) -> VisitBatchOut:
    """Log center visits to enterprises and merchants (走访), counted in the public figures.
    Operators, supervisors, leaders and admins (feedback.record); answers 201 with `Location`
    naming the statistics that count them."""
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
    # Visits have no route of their own: they are counted in the staff statistics.
    set_location(response, request, "staff_statistics")
    return VisitBatchOut(recorded=len(data.visits))
