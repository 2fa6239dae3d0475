from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from intake_service.config import settings
from intake_service.issue.exceptions import IssueNotFound
from intake_service.issue.repository import IssueRepository
from intake_service.issue.service import issue_service
from intake_service.models import ApiKey, Issue
from services.api_keys import ApiKeyIdentity, verify_api_key
from services.db import SessionDep
from services.errors import Unauthorized
from services.ratelimit import RatePolicy, client_ip, ensure_not_blocked, hit


def _raw_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


async def channel_client(
    request: Request,
    session: SessionDep,
    x_api_key: Annotated[str | None, Header(description="Channel client API key")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> ApiKeyIdentity:
    raw = _raw_key(x_api_key, authorization)
    identity = await verify_api_key(session, ApiKey, raw) if raw else None
    if identity is None:
        raise Unauthorized(
            "缺少或无效的渠道 API 密钥(X-API-Key)",
            "Missing or invalid channel API key (X-API-Key)",
            code="invalid_api_key",
        )
    if request.method != "GET":
        writes = RatePolicy("write", settings.rate_submit_per_key, window_seconds=60)
        await hit(request, writes, f"key:{identity.key_id}")
    return identity


ChannelClient = Annotated[ApiKeyIdentity, Depends(channel_client)]

TrackingNo = Annotated[str, Path(min_length=4, max_length=32, pattern=r"^[0-9A-Za-z\-]+$")]


async def owned_issue(
    request: Request,
    session: SessionDep,
    tracking_no: TrackingNo,
    x_tracking_secret: Annotated[str | None, Header(max_length=128)] = None,
    x_submitter_phone: Annotated[str | None, Header(max_length=32)] = None,
) -> Issue:
    """The request, if the caller proves ownership; the same 404 either way, so probing tracking
    numbers reveals nothing."""
    address = f"ip:{client_ip(request)}"
    lookups = RatePolicy("track", settings.rate_track_per_ip, window_seconds=60)
    failures = RatePolicy("track-failures", settings.rate_track_failures_per_ip, window_seconds=600)
    await hit(request, lookups, address)
    await ensure_not_blocked(request, failures, address)
    issue = await IssueRepository.from_session(session).get_by_tracking_no(
        tracking_no.upper(), with_history=True
    )
    if issue is None or not issue_service.verify_owner(
        issue, secret=x_tracking_secret, phone=x_submitter_phone
    ):
        # Guessing tracking numbers or secrets: count the miss; the same 404 either way.
        await hit(request, failures, address)
        raise IssueNotFound()
    return issue


OwnedIssue = Annotated[Issue, Depends(owned_issue)]
