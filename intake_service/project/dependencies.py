from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from intake_service.issue.dependencies import (
    MAX_SECRET_LENGTH,
    TrackingNo,
    tracking_policies,
    tracking_secret_scheme,
)
from intake_service.project.exceptions import ProjectNotFound
from intake_service.project.service import project_progress
from services.ratelimit import client_ip, ensure_not_blocked, hit
from shared.schemas.project import ProjectProgressOut


async def owned_project(
    request: Request,
    project_no: TrackingNo,
    x_tracking_secret: Annotated[str | None, Depends(tracking_secret_scheme)],
) -> ProjectProgressOut:
    """The project's progress, if the caller has its tracking secret; an unknown number and a
    wrong secret are the same 404, counted against the caller's IP like request lookups."""
    address = f"ip:{client_ip(request)}"
    lookups, failures = tracking_policies()
    await hit(request, lookups, address)
    await ensure_not_blocked(request, failures, address)
    secret = (x_tracking_secret or "").strip()
    progress = None
    if secret and len(secret) <= MAX_SECRET_LENGTH:
        progress = await project_progress(request.app.state.http, project_no.upper(), secret)
    if progress is None:
        await hit(request, failures, address)
        raise ProjectNotFound()
    return progress


OwnedProject = Annotated[ProjectProgressOut, Depends(owned_project)]
