"""帮办代办: the enterprise's ratings of the agency service at 开工 and 建成投用."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from scoring_service.models import ProjectFact, ProjectRating
from scoring_service.projects.schemas import (
    ProjectRatingFilters,
    ProjectRatingIn,
    ProjectRatingOut,
    ProjectRatingPage,
)
from scoring_service.projects.service import project_rating_service, ratings_in_scope
from services.auth import BearerPrincipal
from services.db import SessionDep
from services.errors import error_responses
from services.headers import LOCATION
from services.pagination import Key, Keyset, query_fingerprint, read_page
from services.policy import authorize
from services.responses import JSONResponse, resource_path

router = APIRouter(prefix="/v1", tags=["project-ratings"])
# The same answer sent again is the rating already recorded: 200, not a second 201.
RATING_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": ProjectRatingOut, "description": "The same answer again: the one recorded"},
    **error_responses(401, 403, 404, 409, 422),
}
RATING_ORDER = Keyset(
    (
        Key(ProjectRating.rated_at, "datetime", descending=True),
        Key(ProjectRating.id, "uuid", descending=True),
    )
)


@router.post(
    "/project-ratings/by-platform",
    response_model=ProjectRatingOut,
    status_code=201,
    responses=RATING_ANSWERS,
    summary="An enterprise's rating of the agency service, relayed by the intake service",
)
async def platform_project_rating(
    data: ProjectRatingIn, request: Request, session: SessionDep, principal: BearerPrincipal
) -> JSONResponse:
    """The enterprise's rating of the agency service (帮办代办) at a milestone its project has
    reached (开工 started, 建成投用 completed), relayed by the intake service only
    (project_rating.relay). One rating per project and milestone: 201 with `Location` (the
    project's ratings), 200 when the same answer was already recorded, 409 for a different one
    or a milestone not reached yet, 404 for an unknown tracking number."""
    authorize(principal, "project_rating.relay")
    rating, created = await project_rating_service.rate(session, data, via="platform")
    answer = JSONResponse(
        ProjectRatingOut.model_validate(rating).model_dump(mode="json"),
        status_code=201 if created else 200,
    )
    if created:
        # One rating has no route of its own: the project's rating list shows it.
        path = resource_path(request, "list_project_ratings")
        answer.headers[LOCATION] = f"{path}?project_id={rating.project_id}"
    return answer


@router.get(
    "/project-ratings",
    response_model=ProjectRatingPage,
    responses=error_responses(400, 401, 403, 422),
    summary="帮办代办评价",
)
async def list_project_ratings(
    session: SessionDep,
    principal: BearerPrincipal,
    filters: Annotated[ProjectRatingFilters, Query()],
) -> ProjectRatingPage:
    """The enterprises' ratings of the agency service for the projects in the caller's scope
    (a center's subtree by the project's area or center; a department's projects where it holds
    a step), newest first, optionally of one project or milestone. Staff readers
    (project_rating.read); cursor pages: pass `next_cursor` back as `cursor`."""
    authorize(principal, "project_rating.read")
    stmt = (
        select(ProjectRating)
        .join(ProjectFact, ProjectFact.project_id == ProjectRating.project_id)
        .where(ratings_in_scope(principal))
    )
    if filters.project_id is not None:
        stmt = stmt.where(ProjectRating.project_id == filters.project_id)
    if filters.milestone is not None:
        stmt = stmt.where(ProjectRating.milestone == filters.milestone.value)
    ratings, next_cursor, total = await read_page(
        session, stmt, RATING_ORDER, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total,
    )  # fmt: skip
    return ProjectRatingPage(
        items=[ProjectRatingOut.model_validate(rating) for rating in ratings],
        next_cursor=next_cursor,
        limit=filters.limit,
        total=total,
    )
