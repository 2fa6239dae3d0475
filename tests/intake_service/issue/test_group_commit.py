"""Submissions arriving together share a transaction (intake_service/issue/group.py): every
one is written once with its history and events, and Idempotency-Keys keep their promise
inside a group as across groups."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
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
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert await _count(intake_session, Issue) == 2


async def test_a_request_sent_several_times_at_once_is_linked_not_duplicated(
    intake_client: httpx.AsyncClient, intake_session: AsyncSession
) -> None:
    # A double tap on a flaky network: the same request sent again before the first is written,
    # each copy with its own Idempotency-Key. Every copy is decided before any is written, so
    # none sees another in the database; in one group the later copies are linked to the first.
    from intake_service.app import app
    from intake_service.issue.group import _Pending
    from intake_service.issue.schemas import IssueCreate
    from intake_service.issue.service import issue_service, receipt_of
    from services.idempotency import IdempotencyKey

    groups = app.state.submission_groups
    same = IssueCreate.model_validate(submission(
        title="园区路灯不亮",
        description="新兴国际园区北门路灯连续一周不亮,夜间货车进出有安全隐患。",
        submitter={"kind": "person", "name": "李四", "phone": "13900001111"},
    ))  # fmt: skip
    other = IssueCreate.model_validate(_distinct(1))
    pending = []
    for index, data in enumerate([same, other, same, same]):
        async with groups._reads() as reads:
            prepared = await issue_service.prepare(reads, data, client=None)
        receipt = receipt_of(prepared.issue, prepared.secret, prepared.duplicate_of)
        key = IdempotencyKey("bench-client", f"tap-{index}", f"fp-{index}")
        pending.append(_Pending(prepared, key, receipt.model_dump(mode="json")))
    assert all(p.submission.duplicate_of is None for p in pending)

    answers = await groups._commit(pending)
    receipts = [orjson.loads(answer.body) for answer in answers]
    first = receipts[0]["tracking_no"]
    assert [r["duplicate_of"] for r in receipts] == [None, None, first, first]
    assert [r["status"] for r in receipts] == ["received", "received", "duplicate", "duplicate"]

    rows = {
        row.tracking_no: row
        for row in (
            await intake_session.execute(select(Issue.tracking_no, Issue.status, Issue.duplicate_of_id, Issue.id))
        ).all()
    }  # fmt: skip
    assert rows[receipts[2]["tracking_no"]].duplicate_of_id == rows[first].id
    assert rows[receipts[3]["tracking_no"]].duplicate_of_id == rows[first].id
    notes = (
        await intake_session.scalars(select(IssueHistory.note).where(IssueHistory.status == "duplicate"))
    ).all()  # fmt: skip
    assert notes == [f"与 {first} 重复,已关联"] * 2
    events = (await intake_session.scalars(select(OutboxEvent.envelope))).all()
    linked = {e["data"]["tracking_no"]: e["data"]["duplicate_of"] for e in events}
    assert linked[receipts[3]["tracking_no"]] == first
    # The stored answer of a linked copy is its linked receipt: a retry replays that.
    stored = await intake_session.scalar(
        select(IdempotencyRecord.response_body).where(IdempotencyRecord.key == "tap-3")
    )
    assert stored == receipts[3]
