"""Callers of the routing API: staff with bearer tokens, department systems with API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import ApiKey, OrgUnit
from services.api_keys import verify_api_key
from services.auth import (
    BearerCredentials,
    Principal,
    api_key_scheme,
    bearer_token,
    principal_from_token,
)
from services.db import SessionDep
from services.errors import Unauthorized
from services.policy import UNIT_KEY

_department_key = api_key_scheme("部门系统 API 密钥 / A department system's API key (ys_…)")


async def current_principal(
    request: Request,
    session: SessionDep,
    credentials: BearerCredentials,
    x_api_key: Annotated[str | None, Depends(_department_key)],
) -> Principal:
    return await _resolve(request, session, x_api_key or bearer_token(credentials))


async def principal_changing_password(
    request: Request,
    session: SessionDep,
    credentials: BearerCredentials,
    x_api_key: Annotated[str | None, Depends(_department_key)],
) -> Principal:
    """The caller of the password change: the one endpoint a token that must change its
    password first is let through to."""
    return await _resolve(
        request, session, x_api_key or bearer_token(credentials), changing_password=True
    )


async def _resolve(
    request: Request, session: AsyncSession, raw: str | None, *, changing_password: bool = False
) -> Principal:
    if not raw:
        raise Unauthorized(
            "需要登录令牌(Authorization: Bearer)或部门 API 密钥(X-API-Key)",
            "A bearer token or a department API key (X-API-Key) is required",
        )
    if raw.startswith("ys_"):
        identity = await verify_api_key(session, ApiKey, raw)
        unit = (
            await session.scalar(select(OrgUnit).where(OrgUnit.code == identity.scope))
            if identity
            else None
        )
        if identity is None or unit is None or not unit.active:
            raise Unauthorized(
                "部门 API 密钥无效或已吊销", "Invalid or revoked API key", code="invalid_api_key"
            )
        return Principal(
            kind=UNIT_KEY,
            subject=f"{unit.code}:{identity.name}",
            role=UNIT_KEY,
            unit_code=unit.code,
            unit_path=unit.path,
            display_name=unit.name,
        )
    return await principal_from_token(request, raw, changing_password=changing_password)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
ChangingPasswordPrincipal = Annotated[Principal, Depends(principal_changing_password)]
