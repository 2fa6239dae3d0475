"""The enterprise's side of its project (帮办代办): intake holds nothing of projects, it proves
nothing itself either. Routing checks the tracking secret and answers the progress; scoring
records the rating. Both are called with intake's service token."""

from __future__ import annotations

import httpx
import structlog
from pydantic import ValidationError

from intake_service.project.exceptions import (
    ProjectRatingUnavailable,
    ProjectTrackingUnavailable,
)
from services.auth import service_token
from services.responses import JSONResponse
from services.settings import common_settings
from shared.schemas.project import ProjectProgressOut, ProjectRatingIn

log = structlog.get_logger(__name__)


def _service_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token('intake')}"}


async def project_progress(
    http: httpx.AsyncClient, tracking_no: str, secret: str
) -> ProjectProgressOut | None:
    """Routing's view of the project, or None when the number is unknown or the secret wrong
    (routing answers both with the same 404)."""
    try:
        response = await http.get(
            f"{common_settings().routing_url}/v1/projects/tracking/{tracking_no}",
            headers={**_service_headers(), "X-Tracking-Secret": secret},
        )
    except httpx.HTTPError as exc:
        log.warning("project_tracking.routing_unreachable", error=str(exc)[:300])
        raise ProjectTrackingUnavailable() from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        # 401/403 are routing refusing intake's token: a configuration fault, not the
        # enterprise's; it is told to retry and the operators are told why.
        log.warning("project_tracking.routing_failed", status_code=response.status_code)
        raise ProjectTrackingUnavailable()
    try:
        return ProjectProgressOut.model_validate_json(response.content)
    except ValidationError as exc:
        log.warning("project_tracking.routing_answer_unreadable", error=str(exc)[:300])
        raise ProjectTrackingUnavailable() from exc


async def relay_project_rating(
    http: httpx.AsyncClient, tracking_no: str, data: ProjectRatingIn
) -> JSONResponse:
    """Scoring's answer, unchanged: 201 recorded, 200 the same rating again, 409 a different
    one at that milestone, 404/422 as scoring says; a 5xx, a refused token or no answer is a
    503."""
    try:
        response = await http.post(
            f"{common_settings().scoring_url}/v1/project-ratings/by-platform",
            json={**data.model_dump(mode="json"), "tracking_no": tracking_no},
            headers=_service_headers(),
        )
    except httpx.HTTPError as exc:
        log.warning("project_rating.scoring_unreachable", error=str(exc)[:300])
        raise ProjectRatingUnavailable() from exc
    if response.status_code in (401, 403) or response.status_code >= 500:
        # 401/403: scoring refused intake's token, not the enterprise (see above).
        log.warning("project_rating.scoring_failed", status_code=response.status_code)
        raise ProjectRatingUnavailable()
    try:
        body = response.json()
    except ValueError as exc:
        log.warning("project_rating.scoring_answer_unreadable", status_code=response.status_code)
        raise ProjectRatingUnavailable() from exc
    return JSONResponse(body, status_code=response.status_code)
