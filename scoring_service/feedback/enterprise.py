"""The ratings of given cases, for the routing service's enterprise file (一企一档). Service
callers only (``enterprise.ratings.read``): routing sends the ids of the cases in its caller's
scope (at most 200), and every read is an index range on ``rating.case_id``."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import case, func, not_, select
from sqlalchemy.orm import aliased

from scoring_service.evaluation.service import Month, evaluation_service, half_up
from scoring_service.models import Rating
from services.auth import BearerPrincipal
from services.db import SessionDep
from services.errors import error_responses
from services.models import utcnow
from services.policy import authorize
from shared.schemas.enterprise import (
    MAX_SECTION,
    EnterpriseRating,
    EnterpriseRatings,
    EnterpriseRatingsQuery,
    RatingFigures,
    Section,
)

router = APIRouter(prefix="/v1/service", tags=["service"])


@router.post(
    "/ratings/by-cases",
    response_model=EnterpriseRatings,
    responses=error_responses(401, 403, 422),
    summary="Ratings of up to 200 cases with their figures (services only)",
    description="A read: POST because the case ids travel in the body. Figures count each "
    "case's final rating (its highest round), as the public statistics do.",
)
async def ratings_by_cases(
    query: EnterpriseRatingsQuery, session: SessionDep, principal: BearerPrincipal
) -> EnterpriseRatings:
    authorize(principal, "enterprise.ratings.read")
    ids = set(query.case_ids)
    if not ids:
        empty = Section[EnterpriseRating](items=[], total=0, truncated=False)
        return EnterpriseRatings(
            ratings=empty,
            figures=RatingFigures(
                ratings=0, satisfied=0, basic=0, unsatisfied=0, satisfaction_rate=None
            ),
        )
    rows = (
        await session.scalars(
            select(Rating)
            .where(Rating.case_id.in_(ids))
            .order_by(Rating.rated_at.desc(), Rating.id.desc())
            .limit(MAX_SECTION + 1)
        )
    ).all()
    later = aliased(Rating)
    superseded = (
        select(later.id).where(later.case_id == Rating.case_id, later.round > Rating.round).exists()
    )
    final = (
        await session.execute(
            select(
                func.count(Rating.id),
                func.coalesce(func.sum(case((Rating.satisfaction == "satisfied", 1), else_=0)), 0),
                func.coalesce(func.sum(case((Rating.satisfaction == "basic", 1), else_=0)), 0),
                func.coalesce(
                    func.sum(case((Rating.satisfaction == "unsatisfied", 1), else_=0)), 0
                ),
            ).where(Rating.case_id.in_(ids), not_(superseded))
        )
    ).one()
    ratings, satisfied, basic, unsatisfied = (int(value) for value in final)
    truncated = len(rows) > MAX_SECTION
    total = len(rows)
    if truncated:
        total = int(
            await session.scalar(select(func.count(Rating.id)).where(Rating.case_id.in_(ids))) or 0
        )
    policy = await evaluation_service.policy_for(session, Month.containing(utcnow()))
    k = policy.basic_satisfaction_k
    rate = half_up((satisfied + k * basic) / ratings, 4) if ratings else None
    return EnterpriseRatings(
        ratings=Section[EnterpriseRating](
            items=[EnterpriseRating.model_validate(row) for row in rows[:MAX_SECTION]],
            total=total,
            truncated=truncated,
        ),
        figures=RatingFigures(
            ratings=ratings,
            satisfied=satisfied,
            basic=basic,
            unsatisfied=unsatisfied,
            satisfaction_rate=rate,
        ),  # fmt: skip
    )
