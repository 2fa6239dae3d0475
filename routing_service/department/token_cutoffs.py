"""Publishing staff token cutoffs (``staff_user.tokens_valid_after``) to the other processes.

The database is the record; Redis only carries it to every API process (services/auth.py). A
change publishes its cutoff right after its commit; the worker's cron re-publishes every cutoff
each minute, so a failed publish or a restarted (emptied) Redis is made good within a minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import StaffUser
from services.auth import publish_token_cutoffs
from services.queue import QueueClient, RedisError

__all__ = ["publish_after_commit", "republish_token_cutoffs", "staff_cutoffs"]

log = structlog.get_logger(__name__)


async def staff_cutoffs(session: AsyncSession) -> dict[str, datetime]:
    """Every staff member's cutoff that is set (token subject = username)."""
    rows = await session.execute(
        select(StaffUser.username, StaffUser.tokens_valid_after).where(
            StaffUser.tokens_valid_after.is_not(None)
        )
    )
    return {username: cutoff for username, cutoff in rows if cutoff is not None}


async def publish_after_commit(queue: QueueClient | None, cutoffs: Mapping[str, datetime]) -> None:
    """Publish the cutoffs a committed change set; a failure is left to the cron (logged)."""
    if not cutoffs or queue is None:
        return
    try:
        await publish_token_cutoffs(queue.redis, cutoffs)
    except (RedisError, OSError) as exc:
        queue.trip()
        log.warning("auth.token_cutoffs_publish_failed", error=str(exc)[:300], count=len(cutoffs))


async def republish_token_cutoffs(ctx: dict[str, Any]) -> dict[str, int]:
    """Worker cron: publish every cutoff again (Redis errors fail the job and are retried)."""
    async with ctx["sessionmaker"]() as session:
        cutoffs = await staff_cutoffs(session)
    queue: QueueClient = ctx["queue_client"]
    await publish_token_cutoffs(queue.redis, cutoffs)
    return {"cutoffs": len(cutoffs)}
