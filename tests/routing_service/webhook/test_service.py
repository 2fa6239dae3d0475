"""The producer interface (notify_unit), its after-commit fast path, and the retry schedule."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from routing_service.config import settings as routing_settings
from routing_service.models import WebhookDelivery
from routing_service.webhook.service import retry_delay, webhook_service
from services.db import AsyncSessionMaker, discard_after_commit, run_after_commit
from services.queue import QueueClient
from shared.calendar import SHANGHAI
from tests.fixtures.org import Org
from tests.routing_service.webhook.helpers import add_subscription, payload_validator, sample

RETRY_SCHEDULE = routing_settings.webhook_retry_schedule


async def count_deliveries(sessionmaker: AsyncSessionMaker) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)


class TestNotifyUnit:
    async def test_one_delivery_per_matching_active_subscription(
        self, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        jt = org.units["DEPT-JT"].id
        exact = (await add_subscription(routing_sessionmaker, jt, ["card.dispatched"])).id
        wildcard = (await add_subscription(routing_sessionmaker, jt, ["*"])).id
        await add_subscription(routing_sessionmaker, jt, ["card.redo"])
        await add_subscription(routing_sessionmaker, jt, ["*"], active=False)
        await add_subscription(routing_sessionmaker, org.units["DEPT-GH"].id, ["*"])

        case_id = uuid.uuid4()
        # A deadline computed in Asia/Shanghai is sent in UTC, written with Z.
        due_at = datetime(2026, 12, 1, 17, 30, tzinfo=SHANGHAI)
        data = sample(case_id=case_id, due_at=due_at)
        async with routing_sessionmaker() as session:
            deliveries = await webhook_service.notify_unit(session, jt, "card.dispatched", data)
            await session.commit()

        assert {d.subscription_id for d in deliveries} == {exact, wildcard}
        assert len({d.message_id for d in deliveries}) == 2
        for delivery in deliveries:
            assert delivery.message_id.startswith("msg_")
            assert len(delivery.message_id) == 36
            assert delivery.status == "pending"
            assert delivery.attempts == 0
            assert delivery.next_attempt_at is not None
            payload = delivery.payload
            assert payload["type"] == "card.dispatched"
            assert payload["timestamp"].endswith("Z")
            assert datetime.fromisoformat(payload["timestamp"]) <= datetime.now(UTC)
            # Converted to JSON once, at write time, through the event's published model.
            assert payload["data"] == data.model_dump(mode="json")
            assert payload["data"]["case_id"] == str(case_id)
            assert payload["data"]["due_at"] == "2026-12-01T09:30:00Z"
            assert "+00:00" not in json.dumps(payload)
            payload_validator("card.dispatched", department=True).validate(payload)
        assert await count_deliveries(routing_sessionmaker) == 2

    async def test_no_subscription_no_delivery(
        self, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with routing_sessionmaker() as session:
            deliveries = await webhook_service.notify_unit(
                session, org.units["DEPT-FG"].id, "card.reminder", sample("card.reminder")
            )
        assert deliveries == []

    async def test_never_commits(self, org: Org, routing_sessionmaker: AsyncSessionMaker) -> None:
        jt = org.units["DEPT-JT"].id
        await add_subscription(routing_sessionmaker, jt, ["*"])
        async with routing_sessionmaker() as session:
            deliveries = await webhook_service.notify_unit(
                session, jt, "card.redo", sample("card.redo")
            )
            assert len(deliveries) == 1
            await session.rollback()
            discard_after_commit(session)
        assert await count_deliveries(routing_sessionmaker) == 0

    async def test_unknown_event_type_is_a_programming_error(
        self, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with routing_sessionmaker() as session:
            with pytest.raises(ValueError, match="unknown webhook event type"):
                await webhook_service.notify_unit(
                    session, org.units["DEPT-JT"].id, "card.eaten", sample()
                )

    async def test_a_payload_must_be_its_events_model(
        self, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        jt = org.units["DEPT-JT"].id
        async with routing_sessionmaker() as session:
            # Refused even when nobody subscribes: a wrong model fails in every test.
            with pytest.raises(TypeError, match="card.redo"):
                await webhook_service.notify_unit(session, jt, "card.redo", sample())

    async def test_after_commit_enqueues_the_delivery_jobs(
        self,
        org: Org,
        routing_sessionmaker: AsyncSessionMaker,
        queue_client: QueueClient,
        redis_client: Redis,
    ) -> None:
        jt = org.units["DEPT-JT"].id
        await add_subscription(routing_sessionmaker, jt, ["*"])
        await add_subscription(routing_sessionmaker, jt, ["card.suspended"])
        async with routing_sessionmaker() as session:
            deliveries = await webhook_service.notify_unit(
                session, jt, "card.suspended", sample("card.suspended")
            )
            assert await redis_client.zcard("routing") == 0  # nothing before the commit
            await session.commit()
            await run_after_commit(session, queue_client)

        queued = {member.decode() for member in await redis_client.zrange("routing", 0, -1)}
        assert queued == {f"whd:{d.id}:0" for d in deliveries}
        job = await redis_client.get(f"arq:job:whd:{deliveries[0].id}:0")
        assert job is not None
        assert b"routing.deliver_webhook" in job

    async def test_rollback_enqueues_nothing(
        self,
        org: Org,
        routing_sessionmaker: AsyncSessionMaker,
        queue_client: QueueClient,
        redis_client: Redis,
    ) -> None:
        jt = org.units["DEPT-JT"].id
        await add_subscription(routing_sessionmaker, jt, ["*"])
        async with routing_sessionmaker() as session:
            await webhook_service.notify_unit(session, jt, "card.resumed", sample("card.resumed"))
            await session.rollback()
            discard_after_commit(session)
            await run_after_commit(session, queue_client)
        assert await redis_client.zcard("routing") == 0

    async def test_redis_down_does_not_fail_the_commit(
        self, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        jt = org.units["DEPT-JT"].id
        await add_subscription(routing_sessionmaker, jt, ["*"])
        dead_redis = QueueClient("redis://127.0.0.1:1/0")
        try:
            async with routing_sessionmaker() as session:
                await webhook_service.notify_unit(
                    session, jt, "card.cancelled", sample("card.cancelled")
                )
                await session.commit()
                await run_after_commit(session, dead_redis)
        finally:
            await dead_redis.close()
        # The row is the outbox: the sweep sends it later.
        assert await count_deliveries(routing_sessionmaker) == 1


class TestRetrySchedule:
    def test_schedule_grows_and_then_holds(self) -> None:
        delays = [retry_delay(n) for n in range(1, 13)]
        for n, delay in enumerate(delays, start=1):
            base = RETRY_SCHEDULE[min(n, len(RETRY_SCHEDULE)) - 1]
            assert timedelta(seconds=base) <= delay <= timedelta(seconds=base * 1.2)
        assert delays[0] < timedelta(seconds=10)
        # 12 attempts span the better part of a day: an hour-long outage misses nothing.
        assert sum(RETRY_SCHEDULE) + RETRY_SCHEDULE[-1] > 20 * 3600
        assert sum(RETRY_SCHEDULE[:7]) > 3600

    def test_retry_after_is_honoured_within_bounds(self) -> None:
        assert retry_delay(1, retry_after=120) == timedelta(seconds=120)
        assert retry_delay(1, retry_after=10**9) == timedelta(seconds=RETRY_SCHEDULE[-1])
        assert retry_delay(3, retry_after=1) >= timedelta(seconds=RETRY_SCHEDULE[2])
