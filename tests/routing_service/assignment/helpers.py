"""Shared steps for routing tests: a request arriving from intake, and API calls by role."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from routing_service.assignment.service import case_service
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.enums import Channel, RequestType, SubmitterKind, Topic, Urgency
from shared.events import Location, RequestSubmitted, SubmitterInfo
from tests.fixtures.org import Org


def request_event(**overrides: Any) -> RequestSubmitted:
    data: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "tracking_no": "YS2611" + uuid.uuid4().hex[:10].upper(),
        "channel": Channel.app,
        "type": RequestType.suggestion,
        "topic": Topic.transport,
        "topic_suggested": False,
        "topic_confidence": 1.0,
        "urgency": Urgency.normal,
        "title": "希望增加园区公交班次",
        "description": "新兴国际、康尔耐等企业反映希望增加公交班次、提高园区交通承载力。",
        "location": Location(address="新兴国际商贸物流中心", area_code="HS-GM-C1"),
        "submitter": SubmitterInfo(kind=SubmitterKind.enterprise, name="张骞", phone="13812345678"),
        "anonymous": False,
        "confidential": False,
        "received_at": utcnow(),
    }
    data.update(overrides)
    return RequestSubmitted(**data)


async def arrive(sessionmaker: AsyncSessionMaker, **overrides: Any) -> uuid.UUID:
    """A request arrives from intake (what the routing worker does with request.submitted)."""
    async with sessionmaker() as session:
        case = await case_service.create_from_request(session, request_event(**overrides))
        await session.commit()
        assert case is not None
        return case.id


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def verify_and_dispatch(
    client: httpx.AsyncClient,
    org: Org,
    case_id: uuid.UUID,
    *,
    classification: str = "general",
    units: list[dict[str, str]] | None = None,
    **dispatch: Any,
) -> dict[str, Any]:
    await ok(await client.post(f"/v1/cases/{case_id}/verify", headers=org.auth("hs_operator"),
                               json={"decision": "accept", "classification": classification}))  # fmt: skip
    body = {"units": units or [{"unit_code": "DEPT-JT"}], **dispatch}
    dispatched: dict[str, Any] = await ok(
        await client.post(
            f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"), json=body
        )
    )
    return dispatched


def key_headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def local(moment: str) -> datetime:
    from shared.calendar import SHANGHAI

    return datetime.fromisoformat(moment).replace(tzinfo=SHANGHAI)
