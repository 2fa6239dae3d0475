"""The transactional outbox, the relay and the inbox, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from arq.connections import RedisSettings
from arq.worker import Worker
from arq.worker import func as job_function
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.models import InboxEvent, OutboxEvent
from services.db import AsyncSessionMaker
from services.inbox import EventConsumer
from services.models import utcnow
from services.outbox import relay_outbox
from services.queue import QueueClient, job_deserializer, job_serializer
from shared.events import EventEnvelope
from tests.fixtures.environment import RUN_REDIS_URL
from tests.intake_service.issue.test_endpoints import submit


def counting_consumer(
    applied: list[str], sessionmaker: AsyncSessionMaker, redis_url: str = RUN_REDIS_URL
) -> Worker:
    """A stand-in 'routing' consumer: records each applied event through the intake inbox."""

    async def record(_session: AsyncSession, envelope: EventEnvelope) -> None:
        applied.append(str(envelope.id))

    consumer = EventConsumer(InboxEvent, {"request.submitted": record})

    async def handle(ctx: dict[str, Any], envelope: dict[str, Any]) -> str:
        return await consumer({**ctx, "sessionmaker": sessionmaker}, envelope)

    return Worker(
        functions=[job_function(handle, name="routing.handle_event")],  # type: ignore[arg-type]
        queue_name="routing",
        redis_settings=RedisSettings.from_dsn(redis_url),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        burst=True,
        poll_delay=0,
        keep_result=3600,
        handle_signals=False,
    )


async def age_outbox(sessionmaker: AsyncSessionMaker, seconds: int = 10) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(OutboxEvent).values(created_at=utcnow() - timedelta(seconds=seconds))
        )
        await session.commit()


async def relay(sessionmaker: AsyncSessionMaker) -> dict[str, int]:
    queue = QueueClient(RUN_REDIS_URL)
    try:
        async with sessionmaker() as session:
            counts = await relay_outbox(session, queue)
            await session.commit()
            return counts
    finally:
        await queue.close()


class TestOutbox:
    async def test_event_rows_are_written_with_the_change(
        self, intake_client: httpx.AsyncClient, channel_key: str, intake_session: AsyncSession
    ) -> None:
        await submit(intake_client, channel_key)
        rows = (await intake_session.scalars(select(OutboxEvent))).all()
        assert sorted(row.queue for row in rows) == ["routing", "scoring"]
        assert len({row.event_id for row in rows}) == 1
        assert all(row.confirmed_at is None for row in rows)

    async def test_relay_confirms_what_consumers_finished(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        intake_sessionmaker: AsyncSessionMaker,
    ) -> None:
        await submit(intake_client, channel_key)
        applied: list[str] = []
        worker = counting_consumer(applied, intake_sessionmaker)
        await worker.main()
        await worker.close()
        assert len(applied) == 1
        await age_outbox(intake_sessionmaker)
        counts = await relay(intake_sessionmaker)
        # routing's job finished; nobody consumed scoring's yet, so it waits in its queue.
        assert counts == {"confirmed": 1, "pushed": 0, "waiting": 1, "failed": 0}

    async def test_relay_repushes_what_redis_lost(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        intake_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
    ) -> None:
        await submit(intake_client, channel_key)
        await redis_client.flushdb()  # a Redis restart without persistence
        await age_outbox(intake_sessionmaker)
        assert (await relay(intake_sessionmaker))["pushed"] == 2
        assert await redis_client.zcard("routing") == 1
        # A second relay round does not push again while the job waits.
        assert (await relay(intake_sessionmaker))["pushed"] == 0
        assert await redis_client.zcard("routing") == 1

    async def test_young_rows_are_left_to_the_fast_path(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        intake_sessionmaker: AsyncSessionMaker,
    ) -> None:
        await submit(intake_client, channel_key)
        assert await relay(intake_sessionmaker) == {
            "confirmed": 0,
            "pushed": 0,
            "waiting": 0,
            "failed": 0,
        }


class TestInbox:
    async def test_redelivered_event_is_applied_once(
        self, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        applied: list[str] = []

        async def handler(_session: AsyncSession, envelope: EventEnvelope) -> None:
            applied.append(str(envelope.id))

        consumer = EventConsumer(InboxEvent, {"test.happened": handler})
        envelope: dict[str, Any] = EventEnvelope(
            type="test.happened", source="test", data={}
        ).model_dump(mode="json")
        ctx = {"sessionmaker": intake_sessionmaker, "job_try": 1}
        assert await consumer(ctx, envelope) == "handled"
        assert await consumer(ctx, envelope) == "duplicate"
        assert applied == [envelope["id"]]
        async with intake_sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(InboxEvent)) == 1

    async def test_failed_handler_leaves_no_inbox_row(
        self, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        calls = 0

        async def flaky(_session: AsyncSession, _envelope: EventEnvelope) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("boom")

        consumer = EventConsumer(InboxEvent, {"test.flaky": flaky})
        envelope = EventEnvelope(
            id=uuid.uuid4(), type="test.flaky", source="test", data={}
        ).model_dump(mode="json")
        ctx = {"sessionmaker": intake_sessionmaker, "job_try": 1}
        try:
            await consumer(ctx, envelope)
        except RuntimeError:
            pass
        assert await consumer(ctx, envelope) == "handled"
        assert calls == 2

    async def test_concurrent_events_share_transactions_and_a_poisoned_one_fails_alone(
        self, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        from prometheus_client import REGISTRY

        applied: list[str] = []
        poison = uuid.uuid4()

        async def handler(_session: AsyncSession, envelope: EventEnvelope) -> None:
            await asyncio.sleep(0.005)  # a handler's reads: later events queue up meanwhile
            if envelope.id == poison:
                raise ValueError("poisoned event")
            applied.append(str(envelope.id))

        consumer = EventConsumer(InboxEvent, {"test.batch": handler}, name="grouptest")
        envelopes = [
            EventEnvelope(
                id=poison if i == 7 else uuid.uuid4(), type="test.batch", source="t", data={}
            )
            for i in range(40)
        ]
        ctx = {"sessionmaker": intake_sessionmaker, "job_try": 1}
        labels = {"group": "grouptest_events"}
        groups_before = REGISTRY.get_sample_value("yingshang_group_commit_size_count", labels) or 0

        outcomes = await asyncio.gather(
            *(consumer(ctx, e.model_dump(mode="json")) for e in envelopes),
            # the same event delivered twice at once is applied once
            consumer(ctx, envelopes[3].model_dump(mode="json")),
            return_exceptions=True,
        )

        assert isinstance(outcomes[7], ValueError)
        assert (
            sorted(o for i, o in enumerate(outcomes) if i != 7) == ["duplicate"] + ["handled"] * 39
        )
        # The poisoned event's group rolled back and its events ran again alone.
        assert set(applied) == {str(e.id) for e in envelopes if e.id != poison}
        assert len(applied) > 39
        groups = (
            REGISTRY.get_sample_value("yingshang_group_commit_size_count", labels) or 0
        ) - groups_before
        # Fewer transactions than events (the failed group's retries alone are counted too).
        assert groups < 41
        async with intake_sessionmaker() as session:
            ids = set((await session.scalars(select(InboxEvent.event_id))).all())
        assert ids == {e.id for e in envelopes if e.id != poison}

    async def test_newer_versions_are_acknowledged_not_failed(
        self, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        async def handler(_session: AsyncSession, _envelope: EventEnvelope) -> None:
            raise AssertionError("must not be called")

        consumer = EventConsumer(InboxEvent, {"test.v": handler})
        envelope = EventEnvelope(type="test.v", version=2, source="test", data={}).model_dump(
            mode="json"
        )
        assert await consumer({"sessionmaker": intake_sessionmaker}, envelope) == "ignored"
