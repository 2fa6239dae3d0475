"""Submissions arriving together share a transaction (intake_service/issue/group.py): every
one is written once with its history and events, and Idempotency-Keys keep their promise
inside a group as across groups."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.models import IdempotencyRecord, Issue, IssueHistory, OutboxEvent
from tests.intake_service.issue.test_endpoints import submission

N = 60


def _groups_committed() -> float:
    value = REGISTRY.get_sample_value(
        "yingshang_group_commit_size_count", {"group": "intake_submissions"}
    )
    return value or 0.0


def _distinct(i: int) -> dict[str, Any]:
    return submission(
        title=f"第{i}号:厂区门口道路破损",
        description=f"编号{i}的企业反映门口道路坑洼积水,货车进出困难。",
        submitter={"kind": "person", "name": "张三", "phone": f"139{i:08d}"},
    )


async def _count(session: AsyncSession, model: Any) -> int:
    return (await session.scalar(select(func.count()).select_from(model))) or 0


async def test_concurrent_submissions_are_written_once_in_fewer_transactions(
    intake_client: httpx.AsyncClient,
    channel_key: str,
    intake_session: AsyncSession,
    redis_client: Redis,
) -> None:
    before = _groups_committed()
    responses = await asyncio.gather(
        *(
            intake_client.post("/v1/requests", json=_distinct(i), headers={
                "X-API-Key": channel_key, "Idempotency-Key": f"group-{i}"})
            for i in range(N)
        )
    )  # fmt: skip
    assert [r.status_code for r in responses] == [201] * N
    assert len({r.json()["tracking_no"] for r in responses}) == N
    groups = _groups_committed() - before
    assert 0 < groups < N  # several submissions shared a transaction

    assert await _count(intake_session, Issue) == N
    assert await _count(intake_session, IssueHistory) == N
    assert await _count(intake_session, OutboxEvent) == 2 * N  # routing and scoring
    assert await _count(intake_session, IdempotencyRecord) == N
    assert await redis_client.zcard("routing") == N

    # A retry gets the stored receipt: same id and tracking secret.
    retry = await intake_client.post("/v1/requests", json=_distinct(7), headers={
        "X-API-Key": channel_key, "Idempotency-Key": "group-7"})  # fmt: skip
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == responses[7].json()
    assert await _count(intake_session, Issue) == N


async def test_twins_in_one_group_get_one_answer_and_a_reused_key_a_409(
    intake_client: httpx.AsyncClient, channel_key: str, intake_session: AsyncSession
) -> None:
    def post(body: dict[str, Any], key: str) -> Any:
        return intake_client.post(
            "/v1/requests", json=body, headers={"X-API-Key": channel_key, "Idempotency-Key": key}
        )

    # Sent together, so the twins land in the same group (or wait on each other's claim).
    first, twin, filler = await asyncio.gather(
        post(_distinct(1), "twin"), post(_distinct(1), "twin"), post(_distinct(3), "filler")
    )
    assert [first.status_code, twin.status_code, filler.status_code] == [201, 201, 201]
    assert first.json() == twin.json()
    assert {first.headers.get("Idempotent-Replayed"), twin.headers.get("Idempotent-Replayed")} == {
        "true",
        None,
    }
    reused = await post(_distinct(2), "twin")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert await _count(intake_session, Issue) == 2
