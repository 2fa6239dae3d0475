"""Rate limits on public endpoints, counted in Redis (fixed windows shared by every replica).

If Redis is unreachable the limiter lets requests through: refusing submissions because the
counter store is down would lose exactly what the platform exists to keep.
"""

from __future__ import annotations

import time

import structlog
from fastapi import Request

from services.errors import ServiceError
from services.queue import QueueClient, RedisError

__all__ = ["RateLimited", "client_ip", "ensure_not_blocked", "hit"]

log = structlog.get_logger(__name__)


class RateLimited(ServiceError):
    status_code = 429
    code = "rate_limited"
    message = "请求过于频繁,请稍后再试"
    message_en = "Too many requests, slow down"


def client_ip(request: Request) -> str:
    # Behind the ingress the first X-Forwarded-For hop is the client (uvicorn --proxy-headers
    # already rewrites request.client when the proxy is trusted).
    return request.client.host if request.client else "unknown"


async def hit(queue: QueueClient | None, bucket: str, *, limit: int, window_seconds: int) -> None:
    """Count one request in ``bucket``; raise 429 when the window's limit is exceeded."""
    if queue is None or limit <= 0:
        return
    window = int(time.time()) // window_seconds
    key = f"ratelimit:{bucket}:{window}"
    try:
        async with queue.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds + 1)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("ratelimit.unavailable", error=str(exc)[:200])
        return
    if int(count) > limit:
        retry_after = window_seconds - int(time.time()) % window_seconds
        raise RateLimited(headers={"Retry-After": str(max(1, retry_after))})


async def ensure_not_blocked(
    queue: QueueClient | None, bucket: str, *, limit: int, window_seconds: int
) -> None:
    """Refuse (429) while ``bucket`` is over its limit in the current window, without counting."""
    if queue is None or limit <= 0:
        return
    key = f"ratelimit:{bucket}:{int(time.time()) // window_seconds}"
    try:
        count = await queue.redis.get(key)
    except (RedisError, OSError):
        return
    if count is not None and int(count) >= limit:
        raise RateLimited(headers={"Retry-After": str(window_seconds)})
