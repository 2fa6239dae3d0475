"""The arq connection, with a JSON serializer (never pickle) and short timeouts.

APIs must keep answering while Redis is down (the outbox keeps what they accept), so the pool
is built without the start-up ping arq's ``create_pool`` does, and a small circuit breaker skips
the fast-path push for a moment after a failure instead of waiting on every request.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

__all__ = [
    "ArqRedis",
    "QueueClient",
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
