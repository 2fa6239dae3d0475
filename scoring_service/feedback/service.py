"""Feedback (反馈), revisits (回访), ratings (测评) and redo orders (发回重办)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.evaluation import tallies
from scoring_service.feedback.exceptions import (
    AlreadyRated,
    AnonymousPlatformOnly,
    CaseNotFound,
    NotReadyForRating,
    RedoNotAllowed,
)
from scoring_service.feedback.schemas import FeedbackIn, RatingIn
from scoring_service.models import CardFact, CaseFact, Feedback, Rating, RevisitTask
from services.auth import Principal, service_token
from services.errors import ServiceError, ServiceUnavailable
from services.models import utcnow
from services.outbox import add_event
from services.policy import case_in_scope, list_scope, sees_everything
from services.settings import common_settings
from shared.calendar import default_calendar
from shared.enums import CaseStatus
from shared.errors import ErrorResponse
from shared.events import RatingRecorded, RevisitExpired

RATEABLE = (CaseStatus.completed.value, CaseStatus.answered.value, CaseStatus.closed.value)


class FeedbackService:
    async def case(
        self, session: AsyncSession, case_id: uuid.UUID, principal: Principal
    ) -> CaseFact:
        """The case, if it lies in the caller's part of the org tree (else it does not exist
        for them: a street operator may not record feedback on another street's case)."""
        case = await session.get(CaseFact, case_id)
        if case is None:
            raise CaseNotFound()
        if not sees_everything(principal):
            card_paths = await session.scalars(
                select(CardFact.unit_path).where(CardFact.case_id == case_id)
            )
            if not case_in_scope(principal, case.owner_unit_path, card_paths.all()):
                raise CaseNotFound()
        return case

    async def case_by_tracking(self, session: AsyncSession, tracking_no: str) -> CaseFact:
        case = await session.scalar(select(CaseFact).where(CaseFact.tracking_no == tracking_no))
        if case is None:
            raise CaseNotFound()
        return case

    async def record_feedback(
        self, session: AsyncSession, principal: Principal, case: CaseFact, data: FeedbackIn
    ) -> Feedback:
        if case.status not in RATEABLE:
            raise NotReadyForRating()
        if case.anonymous and data.method != "original_channel":
            raise AnonymousPlatformOnly()
        feedback = Feedback(id=uuid.uuid4(), case_id=case.case_id, method=data.method, recorded_by=principal.actor,
                            at=utcnow(), notes=data.notes, attendees=list(data.attendees), minutes=data.minutes)  # fmt: skip
        session.add(feedback)
        return feedback

    async def rate(
        self,
        session: AsyncSession,
        case: CaseFact,
        data: RatingIn,
        *,
        source: str,
        method: str,
        recorded_by: str,
    ) -> tuple[Rating, bool]:
        """Record the round's rating; returns (rating, created). The same rating twice is one."""
        if case.status not in RATEABLE:
            raise NotReadyForRating()
        if case.anonymous and source != "platform":
            raise AnonymousPlatformOnly()
        existing = await session.scalar(
            select(Rating).where(Rating.case_id == case.case_id, Rating.round == case.redo_count)
        )
        if existing is not None:
            same = (existing.satisfaction, existing.score, existing.resolved, existing.unit_at_fault) == (
                data.satisfaction, data.score, data.resolved, data.unit_at_fault)  # fmt: skip
            if same:
                return existing, False
            raise AlreadyRated(details={"rating_id": str(existing.id)})
        now = utcnow()
        rating = Rating(id=uuid.uuid4(), case_id=case.case_id, round=case.redo_count, satisfaction=data.satisfaction,
                        score=data.score, resolved=data.resolved,
                        unit_at_fault=data.unit_at_fault and data.satisfaction == "unsatisfied",
                        comment=data.comment, source=source, method=method, recorded_by=recorded_by, rated_at=now)  # fmt: skip
        session.add(rating)
        await tallies.rating_recorded(session, case, rating)
        task = await session.scalar(
            select(RevisitTask).where(
                RevisitTask.case_id == case.case_id, RevisitTask.round == case.redo_count
            )
        )
        if task is not None and task.status == "open":
            task.status, task.done_at = "done", now
        add_event(session, RatingRecorded(case_id=case.case_id, rating_id=rating.id, round=rating.round,
                                          satisfaction=rating.satisfaction, resolved=rating.resolved, rated_at=now))  # fmt: skip
        return rating, True

    async def order_redo(self, session: AsyncSession, http: httpx.AsyncClient, principal: Principal,
                         rating: Rating, reason: str) -> Rating:  # fmt: skip
        """发回重办 through routing's API (REST: the center needs to know it worked)."""
        if rating.satisfaction != "unsatisfied" or not rating.unit_at_fault:
            raise RedoNotAllowed()
        if rating.redo_ordered_at is not None:
            return rating
        url = f"{common_settings().routing_url}/v1/cases/{rating.case_id}/redo"
        try:
            response = await http.post(
                url,
                json={"reason": reason, "rating_id": str(rating.id)},
                headers={"Authorization": f"Bearer {service_token('scoring')}",
                         "Idempotency-Key": f"redo:{rating.id}", "X-Acting-For": principal.actor[:100]},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                "派单督办服务暂不可用", "The routing service is unavailable"
            ) from exc
        if response.status_code >= 500:
            raise ServiceUnavailable("派单督办服务暂不可用", "The routing service is unavailable")
        if response.status_code >= 400:
            error = ErrorResponse.model_validate(response.json()).error
            raise ServiceError(
                error.message, error.message_en, code=error.code, status_code=response.status_code
            )
        rating.redo_ordered_at = utcnow()
        return rating

    async def expire_revisits(self, session: AsyncSession, *, limit: int = 500) -> int:
        """Open revisits past their window (an index range on open tasks' due time)."""
        from datetime import timedelta

        from scoring_service.config import settings

        now = utcnow()
        # A coarse SQL bound first (calendar days ≥ working days), then the exact working-day test.
        horizon = now - timedelta(days=settings.revisit_window_days)
        tasks = (await session.scalars(
            select(RevisitTask).where(RevisitTask.status == "open", RevisitTask.due_at < horizon)
            .order_by(RevisitTask.due_at).limit(limit)
        )).all()  # fmt: skip
        calendar = default_calendar()
        expired = 0
        for task in tasks:
            if calendar.add_working_days(task.due_at, settings.revisit_window_days).due_at > now:
                continue
            task.status, task.done_at = "expired", now
            add_event(
                session, RevisitExpired(case_id=task.case_id, round=task.round, expired_at=now)
            )
            expired += 1
        return expired


feedback_service = FeedbackService()


def cases_in_scope(principal: Principal) -> ColumnElement[bool]:
    """The SQL form of :func:`services.policy.case_in_scope` over ``CaseFact`` rows."""
    scope = list_scope(principal)
    if scope.own_unit_code is not None:
        return exists().where(
            CardFact.case_id == CaseFact.case_id, CardFact.unit_code == scope.own_unit_code
        )
    if scope.subtree is None:
        return true()
    subtree = scope.subtree
    condition = or_(
        CaseFact.owner_unit_path.startswith(subtree),
        exists().where(
            CardFact.case_id == CaseFact.case_id, CardFact.unit_path.startswith(subtree)
        ),
    )
    district = "/" + subtree.strip("/").split("/")[0] + "/"
    if district.startswith(subtree):
        # Facts recorded before paths were carried count as the district's.
        condition = or_(condition, CaseFact.owner_unit_path.is_(None))
    return condition
