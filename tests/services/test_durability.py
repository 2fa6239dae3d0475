"""Nothing accepted is lost: real API and worker processes, a worker killed with SIGKILL and a
Redis server stopped (losing its memory) while requests keep arriving."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from intake_service.models import InboxEvent, OutboxEvent
from services.db import AsyncSessionMaker
from tests.fixtures.processes import (
    ThrowawayRedis,
    api_argv,
    free_port,
    spawn,
    stop,
    wait_for_http,
    worker_argv,
)
from tests.intake_service.issue.test_endpoints import submission

TOTAL = 120


async def routing_jobs(redis: Redis) -> Counter[str]:
    """request_id → number of queued request.submitted jobs for the routing queue."""
    found: Counter[str] = Counter()
    for job_id in await redis.zrange("routing", 0, -1):
        raw = await redis.get(b"arq:job:" + job_id)
        if raw is None:
            continue
        envelope = orjson.loads(raw)["a"][0]
        if envelope["type"] == "request.submitted":
            found[envelope["data"]["request_id"]] += 1
    return found


@pytest.mark.slow
async def test_every_201_is_delivered_exactly_once_after_worker_kill_and_redis_loss(
    tmp_path: Path, channel_key: str, intake_sessionmaker: AsyncSessionMaker
) -> None:
    redis_server = ThrowawayRedis()
    redis_server.start()
    env = {
        "REDIS_URL": redis_server.url,
        "LOG_LEVEL": "WARNING",
        "INTAKE_OUTBOX_RELAY_SECONDS": "1",
    }
    port = free_port()
    api = spawn(api_argv("intake", port), env, tmp_path / "api.log")
    worker = spawn(worker_argv("intake"), env, tmp_path / "worker.log")
    accepted: list[str] = []
    try:
        await asyncio.to_thread(wait_for_http, f"http://127.0.0.1:{port}/healthz")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for i in range(TOTAL):
                if i == TOTAL // 4:
                    stop(worker, kill=True)  # the relay dies mid-burst
                if i == TOTAL // 2:
                    redis_server.stop()  # Redis gone, and with it every queued job
                if i == 3 * TOTAL // 4:
                    redis_server.start()  # back, empty
                    worker = spawn(worker_argv("intake"), env, tmp_path / "worker.log")
                body = submission(
                    title=f"第{i}号诉求:园区道路破损",
                    submitter={"kind": "person", "phone": f"139{i:08d}"},
                )
                response = await client.post(
                    "/v1/requests", json=body, headers={"X-API-Key": channel_key}
                )
                assert response.status_code == 201, response.text
                accepted.append(response.json()["id"])

        redis = Redis.from_url(redis_server.url)
        try:
            deadline = time.monotonic() + 45
            jobs: Counter[str] = Counter()
            while time.monotonic() < deadline:
                jobs = await routing_jobs(redis)
                if len(jobs) >= TOTAL:
                    break
                await asyncio.sleep(0.5)
            assert set(jobs) == set(accepted)
            assert set(jobs.values()) == {1}
        finally:
            await redis.aclose()

        # Drain the routing queue with a consumer, twice over: each event is applied once.
        from tests.services.test_outbox import counting_consumer

        applied: list[str] = []
        for _ in range(2):
            consumer = counting_consumer(applied, intake_sessionmaker, redis_server.url)
            await consumer.main()
            await consumer.close()
        assert len(applied) == TOTAL
        async with intake_sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(InboxEvent)) == TOTAL

        # And the relay now confirms every routing row.
        deadline = time.monotonic() + 20
        unconfirmed = -1
        while time.monotonic() < deadline:
            async with intake_sessionmaker() as session:
                unconfirmed = (
                    await session.scalar(
                        select(func.count())
                        .select_from(OutboxEvent)
                        .where(OutboxEvent.queue == "routing", OutboxEvent.confirmed_at.is_(None))
                    )
                    or 0
                )
            if unconfirmed == 0:
                break
            await asyncio.sleep(0.5)
        assert unconfirmed == 0
    finally:
        stop(worker)
        stop(api)
        redis_server.stop()
