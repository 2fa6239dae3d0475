"""The arq connection, with a JSON serializer (never pickle) and short timeouts.

APIs must keep answering while Redis is down (the outbox keeps what they accept), so the pool
is built without the start-up ping arq's ``create_pool`` does, and a small circuit breaker skips
the fast-path push for a moment after a failure instead of waiting on every request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from arq.connections import ArqRedis, RedisSettings
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

__all__ = [
    "ArqRedis",
    "JobRequest",
    "QueueClient",
    "enqueue_many",
    "RedisError",
    "job_deserializer",
    "job_serializer",
    "redis_settings",
]


def job_serializer(obj: Any) -> bytes:
    # repr() as a fallback keeps arq able to store a failed job's exception as its result.
    return orjson.dumps(obj, default=repr)


def job_deserializer(data: bytes) -> Any:
    return orjson.loads(data)


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = 30
    settings.conn_retry_delay = 1
    return settings


def connect(url: str) -> ArqRedis:
    pool = ConnectionPool.from_url(
        url, socket_connect_timeout=1.0, socket_timeout=3.0, health_check_interval=10
    )
    return ArqRedis(
        connection_pool=pool,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
    )


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One arq job to enqueue: ``function(*args)`` on ``queue`` under a caller-chosen id."""

    function: str
    args: tuple[Any, ...]
    job_id: str
    queue: str
    defer_by: timedelta | None = None


# arq's enqueue_job semantics (no job if the id is queued, running or has a kept result) in one
# server-side step. arq itself spends a WATCH/EXISTS/MULTI/EXEC exchange per job; on loopback
# each round trip costs more CPU than the job's bytes, so a commit's jobs go in one pipeline.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""
_EXPIRES_EXTRA_MS = 86_400_000  # arq's default: a queued job's key outlives its due time by 1 day


async def enqueue_many(redis: ArqRedis, jobs: Sequence[JobRequest]) -> list[bool]:
    """Enqueue ``jobs`` in one round trip; per job ``False`` when its id already exists.

    The jobs are exactly what ``ArqRedis.enqueue_job`` writes, so arq workers run them as usual.
    """
    if not jobs:
        return []
    now_ms = timestamp_ms()
    async with redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            defer_ms = int(job.defer_by.total_seconds() * 1000) if job.defer_by else 0
            payload = serialize_job(
                job.function, job.args, {}, None, now_ms, serializer=redis.job_serializer
            )
            keys_and_args: list[Any] = [
                job_key_prefix + job.job_id,
                result_key_prefix + job.job_id,
                job.queue,
                defer_ms + _EXPIRES_EXTRA_MS,
                payload,
                now_ms + defer_ms,
                job.job_id,
            ]
            pipe.eval(_ENQUEUE, 3, *keys_and_args)
        replies = await pipe.execute()
    return [bool(reply) for reply in replies]


class QueueClient:
    """Owns the Redis connection of one process and knows when Redis was last seen failing."""

    def __init__(self, url: str, *, breaker_seconds: float = 2.0) -> None:
        self.url = url
        self.redis = connect(url)
        self._breaker_seconds = breaker_seconds
        self._open_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self) -> None:
        self._open_until = time.monotonic() + self._breaker_seconds

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()
