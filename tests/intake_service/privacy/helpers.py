"""Requests submitted through the API, and what the privacy tables hold afterwards."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from intake_service.models import IdentityAccess, Issue, OutboxEvent
from services.db import AsyncSessionMaker
from tests.intake_service.issue.test_endpoints import submission

REASON = "核查举报线索(案件线索 2026-118)"
PERSON = {"kind": "person", "name": "赵六", "phone": "13800000002"}
ENTERPRISE = {"kind": "enterprise", "name": "李四", "phone": "13900000001",
              "uscc": "91130404MA0CTE1N15", "enterprise_name": "邯郸新兴国际物流有限公司"}  # fmt: skip
WHISTLEBLOWER = {"kind": "person", "name": "王小明", "phone": "13912345678"}


async def submit(client: httpx.AsyncClient, key: str, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/requests", json=submission(**overrides), headers={"X-API-Key": key}
    )
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


async def report(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    """A whistleblower's report (confidential by its type)."""
    return await submit(client, key, channel="report_platform", type="report",
                        title="窗口人员吃拿卡要", description="办理备案时工作人员暗示要好处费。",
                        submitter=WHISTLEBLOWER)  # fmt: skip


async def access_rows(sessionmaker: AsyncSessionMaker) -> list[IdentityAccess]:
    async with sessionmaker() as session:
        stmt = select(IdentityAccess).order_by(IdentityAccess.at, IdentityAccess.tracking_no)
        return list((await session.scalars(stmt)).all())


async def issue(sessionmaker: AsyncSessionMaker, tracking_no: str) -> Issue:
    async with sessionmaker() as session:
        found = await session.scalar(select(Issue).where(Issue.tracking_no == tracking_no))
        assert found is not None
        return found


async def erasure_events(sessionmaker: AsyncSessionMaker) -> list[OutboxEvent]:
    async with sessionmaker() as session:
        stmt = select(OutboxEvent).where(OutboxEvent.event_type == "request.personal_data_erased")
        return list((await session.scalars(stmt)).all())
