from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader

from intake_service.config import settings
from intake_service.issue.exceptions import IssueNotFound
from intake_service.issue.repository import IssueRepository
from intake_service.issue.service import issue_service
from intake_service.models import ApiKey, Issue
from services.api_keys import ApiKeyIdentity, verify_api_key
from services.auth import BearerCredentials, api_key_scheme, bearer_token
from services.db import SessionDep
from services.errors import Unauthorized
from services.ratelimit import RatePolicy, client_ip, ensure_not_blocked, hit

_channel_key = api_key_scheme("渠道客户端 API 密钥 / A channel client's API key (ys_…)")
# Who submitted a request proves it with the secret on the receipt, or the phone number given.
tracking_secret_scheme = APIKeyHeader(
    name="X-Tracking-Secret",
    scheme_name="trackingSecret",
    description="回执上的查询密码 / The secret printed on the submitter's receipt",
    auto_error=False,
)
_submitter_phone = APIKeyHeader(
    name="X-Submitter-Phone",
    scheme_name="submitterPhone",
    description="提交时留的手机号 / The phone number given when submitting",
    auto_error=False,
)


async def channel_client(
    request: Request,
    session: SessionDep,
    credentials: BearerCredentials,
    x_api_key: Annotated[str | None, Depends(_channel_key)],
) -> ApiKeyIdentity:
    raw = (x_api_key or "").strip() or bearer_token(credentials)
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
# Over-long proofs are simply wrong ones (the same 404), never compared.
MAX_SECRET_LENGTH = 128


def tracking_policies() -> tuple[RatePolicy, RatePolicy]:
    """Lookups per IP, and misses per IP (the lockout): one budget for every public view
    proven by a tracking secret (requests and projects), so guessing cannot switch between
    them."""
    return (
        RatePolicy("track", settings.rate_track_per_ip, window_seconds=60),
        RatePolicy("track-failures", settings.rate_track_failures_per_ip, window_seconds=600),
    )


async def owned_issue(
    request: Request,
    session: SessionDep,
    tracking_no: TrackingNo,
    x_tracking_secret: Annotated[str | None, Depends(tracking_secret_scheme)],
    x_submitter_phone: Annotated[str | None, Depends(_submitter_phone)],
) -> Issue:
    """The request, if the caller proves ownership; the same 404 either way, so probing tracking
    numbers reveals nothing."""
    address = f"ip:{client_ip(request)}"
    lookups, failures = tracking_policies()
    await hit(request, lookups, address)
    await ensure_not_blocked(request, failures, address)
    issue = await IssueRepository.from_session(session).get_by_tracking_no(
        tracking_no.upper(), with_history=True
    )
    secret = (
        x_tracking_secret
        if x_tracking_secret and len(x_tracking_secret) <= MAX_SECRET_LENGTH
        else None
    )
    phone = x_submitter_phone if x_submitter_phone and len(x_submitter_phone) <= 32 else None
    if issue is None or not issue_service.verify_owner(issue, secret=secret, phone=phone):
        # Guessing tracking numbers or secrets: count the miss; the same 404 either way.
        await hit(request, failures, address)
        raise IssueNotFound()
    return issue


OwnedIssue = Annotated[Issue, Depends(owned_issue)]
