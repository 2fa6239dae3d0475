"""The worker that claims a poll's jobs in one round trip keeps arq's rules, on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.worker import func

from services.queue import job_deserializer, job_serializer
from services.worker import QueueWorker
from tests.fixtures.environment import RUN_REDIS_URL


@pytest.fixture
async def queue() -> AsyncIterator[tuple[str, ArqRedis]]:
    name = f"qw-{uuid.uuid4().hex[:8]}"
    redis = await create_pool(
        RedisSettings.from_dsn(RUN_REDIS_URL),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=name,
    )
    yield name, redis
    await redis.aclose()


def worker(
    name: str, ran: list[str], running: list[int] | None = None, **options: Any
) -> QueueWorker:
    """A burst worker whose job records its label; ``running`` = [now, peak] concurrent jobs."""
    running = running if running is not None else [0, 0]

    async def job(_ctx: dict[str, Any], label: str, pause: float = 0.0) -> str:
        ran.append(label)
        running[0] += 1
        running[1] = max(running[1], running[0])
        await asyncio.sleep(pause)
        running[0] -= 1
        return label

    return QueueWorker(
        functions=[func(job, name="job")],  # type: ignore[list-item]
        queue_name=name,
        redis_settings=RedisSettings.from_dsn(RUN_REDIS_URL),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        burst=True,
        poll_delay=0,
        handle_signals=False,
        **options,
    )


async def test_a_poll_starts_every_due_job_once_and_skips_deferred_and_held_ones(
    queue: tuple[str, ArqRedis],
) -> None:
    name, redis = queue
    for i in range(30):
        await redis.enqueue_job("job", f"due-{i}", 0.01, _job_id=f"due-{i}")
    await redis.enqueue_job("job", "later", _job_id="later", _defer_by=timedelta(minutes=5))
    await redis.enqueue_job("job", "held", _job_id="held")
    # Another worker is running "held": its in-progress key is set.
    await redis.psetex(in_progress_key_prefix + "held", 60_000, b"1")

    ran: list[str] = []
    running = [0, 0]
    w = worker(name, ran, running, max_jobs=8)
    # Not burst-until-empty: the deferred and the held job stay queued. Run until 30 are done.
    w.burst = False
    main = asyncio.create_task(w.main())
    for _ in range(500):
        if w.jobs_complete >= 30:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # time to (wrongly) start anything else
    main.cancel()
    await asyncio.gather(main, return_exceptions=True)
    # A poll can read ids that change before the claim: re-deferred, finished, held elsewhere.
    await w.start_jobs([b"later", b"no-such-job", b"held", b"due-0"])
    assert w.job_counter == 0
    await w.close()

    assert sorted(ran) == sorted(f"due-{i}" for i in range(30))
    assert running[1] <= 8  # never more than max_jobs at once
    assert w.jobs_complete == 30
    # The skipped jobs are still queued, untouched, for their time or their owner.
    assert await redis.zscore(name, "later") is not None
    assert await redis.zscore(name, "held") is not None
    assert await redis.exists(in_progress_key_prefix + "later") == 0
    for i in range(30):
        result = await redis.get(f"arq:result:due-{i}")
        assert result is not None
        assert job_deserializer(result)["s"] is True


async def test_two_workers_on_one_queue_never_run_a_job_twice(
    queue: tuple[str, ArqRedis],
) -> None:
    name, redis = queue
    for i in range(200):
        await redis.enqueue_job("job", f"j{i}", 0.002, _job_id=f"j{i}")

    ran: list[str] = []
    first, second = worker(name, ran, max_jobs=10), worker(name, ran, max_jobs=10)
    await asyncio.wait_for(asyncio.gather(first.main(), second.main()), 60)
    await first.close()
    await second.close()

    counts = Counter(ran)
    assert len(counts) == 200
    assert max(counts.values()) == 1
    # Both took part: the claim hands each poll's jobs to one worker, not all to the first.
    assert first.jobs_complete > 0
    assert second.jobs_complete > 0
    assert first.jobs_complete + second.jobs_complete == 200


async def test_a_running_job_keeps_its_lease_and_a_dead_worker_loses_it(
    queue: tuple[str, ArqRedis],
) -> None:
    """A job may run longer than the in-progress lease: the worker renews it meanwhile, so no
    other replica starts it twice. A worker that stops polling (killed) renews nothing, and its
    job's mark is gone one lease later, whatever the job's own timeout, for another to take."""
    name, redis = queue
    await redis.enqueue_job("job", "long", 3.0, _job_id="long")
    ran: list[str] = []
    w = worker(name, ran, lease_s=0.6, job_timeout=60)
    w.burst = False
    main = asyncio.create_task(w.main())
    for _ in range(200):
        if ran:
            break
        await asyncio.sleep(0.02)
    assert ran == ["long"]
    await asyncio.sleep(1.5)  # two and a half leases into the job
    assert ran == ["long"]  # an expired mark would have let this very worker start it again
    key = in_progress_key_prefix + "long"
    assert await redis.exists(key) == 1
    assert 0 < await redis.pttl(key) <= 600

    main.cancel()  # polling stops, the job itself runs on: as good as a killed process here
    await asyncio.gather(main, return_exceptions=True)
    await asyncio.sleep(0.8)
    assert await redis.exists(key) == 0
    # Another worker takes it over and runs it (again: handlers are idempotent).
    again: list[str] = []
    other = worker(name, again, max_jobs=1)
    await asyncio.wait_for(other.main(), 20)
    assert again == ["long"]
    await other.close()
    for task in list(w.tasks.values()):
        task.cancel()
    await asyncio.gather(*w.tasks.values(), return_exceptions=True)


def test_a_connection_lost_during_a_watch_is_an_outage_not_a_conflict() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import WatchError

    from services.worker import redis_down

    try:
        try:
            raise RedisConnectionError("Connection reset by peer")
        except RedisConnectionError:
            raise WatchError("A ConnectionError occurred on while watching one or more keys")  # noqa: B904
    except WatchError as exc:
        lost = exc
    assert redis_down(lost)
    assert not redis_down(WatchError("watched key changed"))  # a real conflict stays fatal
    assert redis_down(RedisConnectionError("refused"))
    assert not redis_down(ValueError("a bug"))
    assert not redis_down(None)
