"""The enterprise's view of its investment project (帮办代办进度) and its rating of the agency
service, public with the project's tracking secret. Intake relays both: routing owns projects
and checks the secret, scoring owns ratings."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from intake_service.issue.schemas import created
from intake_service.project.dependencies import OwnedProject
from intake_service.project.service import relay_project_rating
from services.errors import error_responses
from services.headers import LOCATION
from services.responses import JSONResponse, resource_path
from shared.schemas.project import ProjectProgressOut, ProjectRatingIn, ProjectRatingOut

# Tags per route, not on the router: an operation has exactly one.
router = APIRouter(prefix="/v1")


@router.get(
    "/projects/{project_no}",
    response_model=ProjectProgressOut,
    responses=error_responses(404, 422, 429, 503),
    summary="Track a project (帮办代办进度, needs X-Tracking-Secret)",
    tags=["projects"],
)
async def track_project(project: OwnedProject) -> ProjectProgressOut:
    """The enterprise's view of its project: stage, the agency plan's steps and the blockers
    raised as requests, and the milestones it may rate. Public, with the project's tracking
    secret (X-Tracking-Secret); a wrong secret is the same 404 as an unknown number, and
    misses are rate limited per IP together with request lookups."""
    return project


@router.post(
    "/projects/{project_no}/ratings",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectRatingOut,
    responses={
        **error_responses(404, 409, 422, 429, 503),
        **created(),
        200: {
            "model": ProjectRatingOut,
            "description": "Rated before at this milestone with the same answer: that rating",
        },
    },
    summary="Rate the agency service at a milestone (开工 / 建成投用)",
    tags=["projects"],
)
async def rate_project(
    project: OwnedProject, data: ProjectRatingIn, request: Request
) -> JSONResponse:
    """The enterprise (X-Tracking-Secret) rates the agency service once per milestone reached;
    the same rating again is 200, a different one 409. Relayed to the scoring service, which
    owns ratings (its errors come back unchanged); `Location` is the project's view."""
    answer = await relay_project_rating(request.app.state.http, project.tracking_no, data)
    if answer.status_code == status.HTTP_201_CREATED:
        answer.headers[LOCATION] = resource_path(
            request, "track_project", project_no=project.tracking_no
        )
    return answer
