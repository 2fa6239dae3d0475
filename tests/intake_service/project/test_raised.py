"""Requests raised by routing from a project (帮办代办中遇到的问题): service callers only,
received like any request, with the project on the record and on the event."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from intake_service.models import Issue
from services.auth import service_token
from services.db import AsyncSessionMaker
from tests.fixtures.org import Org
from tests.intake_service.issue.test_endpoints import submission, valid_uscc

URL = "/v1/service/requests"
PROJECT = uuid.UUID("0b0c3f5e-2a1d-4c8e-9f00-000000000001")


def blocker(**overrides: Any) -> dict[str, Any]:
    body = submission(
        channel="agency",
        type="help",
        title="项目施工用电接入迟迟未办",
        description="产业园项目已开工,施工临时用电接入申请提交两周仍未安排勘察。",
        submitter={
            "kind": "enterprise",
            "name": "赵经理",
            "phone": "13812340001",
            "uscc": valid_uscc(),
            "enterprise_name": "邯郸新材料科技有限公司",
        },
        project_id=str(PROJECT),
    )
    body.update(overrides)
    return body


def routing() -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token('routing')}"}


async def _submitted_events(redis: Redis) -> list[dict[str, Any]]:
    events = []
    for job_id in await redis.zrange("routing", 0, -1):
        raw = await redis.get(f"arq:job:{job_id.decode()}")
        envelope = orjson.loads(raw)["a"][0]
        if envelope["type"] == "request.submitted":
            events.append(envelope["data"])
    return events


async def test_raised_request_is_received_with_its_project(
    intake_client: httpx.AsyncClient,
    intake_sessionmaker: AsyncSessionMaker,
    redis_client: Redis,
) -> None:
    response = await intake_client.post(URL, json=blocker(), headers=routing())
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["tracking_no"].startswith("YS")
    assert receipt["status"] == "received"
    assert receipt["tracking_secret"]
    assert response.headers["Location"] == f"/v1/requests/{receipt['tracking_no']}"
    async with intake_sessionmaker() as session:
        issue = await session.scalar(select(Issue).where(Issue.id == uuid.UUID(receipt["id"])))
    assert issue is not None
    assert (issue.project_id, issue.channel, issue.api_key_id) == (PROJECT, "agency", None)
    (event,) = await _submitted_events(redis_client)
    assert event["request_id"] == receipt["id"]
    assert event["project_id"] == str(PROJECT)
    assert event["channel"] == "agency"
    assert event["submitter"]["enterprise_name"] == "邯郸新材料科技有限公司"
    # The enterprise tracks it like any request, with the receipt's secret.
    view = await intake_client.get(
        response.headers["Location"], headers={"X-Tracking-Secret": receipt["tracking_secret"]}
    )
    assert view.status_code == 200
    assert view.json()["channel"] == "agency"


async def test_the_channel_may_be_left_out_and_no_other_is_taken(
    intake_client: httpx.AsyncClient,
) -> None:
    body = blocker()
    del body["channel"]
    assert (await intake_client.post(URL, json=body, headers=routing())).status_code == 201
    other = await intake_client.post(URL, json=blocker(channel="app"), headers=routing())
    assert other.status_code == 422
    assert "channel_not_allowed" in other.text


@pytest.mark.parametrize(
    "change",
    [{"project_id": None}, {"project_id": "not-a-uuid"},
     {"attachments": [{"upload_id": str(uuid.uuid4())}]}],
    ids=["no project", "bad project id", "an upload"],
)  # fmt: skip
async def test_bad_bodies_are_422(intake_client: httpx.AsyncClient, change: dict[str, Any]) -> None:
    body = {key: value for key, value in blocker(**change).items() if value is not None}
    response = await intake_client.post(URL, json=body, headers=routing())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"]


async def test_a_repeat_of_an_earlier_blocker_is_linked_as_a_duplicate(
    intake_client: httpx.AsyncClient, redis_client: Redis
) -> None:
    first = (await intake_client.post(URL, json=blocker(), headers=routing())).json()
    again = await intake_client.post(URL, json=blocker(), headers=routing())
    assert again.status_code == 201
    assert again.json()["duplicate_of"] == first["tracking_no"]
    events = await _submitted_events(redis_client)
    assert [e["project_id"] for e in events] == [str(PROJECT)] * 2


async def test_only_services_may_raise(
    intake_client: httpx.AsyncClient, channel_key: str, org: Org, redis_client: Redis
) -> None:
    anonymous = await intake_client.post(URL, json=blocker())
    assert anonymous.status_code == 401
    with_key = await intake_client.post(URL, json=blocker(), headers={"X-API-Key": channel_key})
    assert with_key.status_code == 401
    for role in ("admin", "hs_operator", "auditor"):
        staff = await intake_client.post(URL, json=blocker(), headers=org.auth(role))
        assert staff.status_code == 403, (role, staff.text)
        assert staff.json()["error"]["code"] == "forbidden"
    assert await _submitted_events(redis_client) == []


async def test_a_retry_with_the_same_key_answers_the_same_receipt(
    intake_client: httpx.AsyncClient, redis_client: Redis
) -> None:
    headers = {**routing(), "Idempotency-Key": "blocker-1"}
    first = await intake_client.post(URL, json=blocker(), headers=headers)
    second = await intake_client.post(URL, json=blocker(), headers=headers)
    assert first.status_code == second.status_code == 201, second.text
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert len(await _submitted_events(redis_client)) == 1
    changed = await intake_client.post(
        URL, json=blocker(title="另一个堵点:施工许可"), headers=headers
    )
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    # The key is the caller's own: another service's same key is another request.
    scoring = {
        "Authorization": f"Bearer {service_token('scoring')}",
        "Idempotency-Key": "blocker-1",
    }
    other = await intake_client.post(URL, json=blocker(), headers=scoring)
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
