"""Consuming events exactly once in effect: the inbox records each applied event id in the same
transaction as the effect, so a redelivered event (arq runs jobs at least once) changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from arq import Retry
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import (
    AsyncSessionMaker,
    discard_after_commit,
    insert_on_conflict,
    run_after_commit,
)
from services.models import InboxEventMixin, utcnow
from services.outbox import discard_pending
from services.queue import QueueClient
from shared.events import EventEnvelope

__all__ = ["EventConsumer", "EventHandler"]

log = structlog.get_logger(__name__)

EventHandler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]


class EventConsumer:
    """Dispatches one queue's events to handlers by type, through the inbox.

    Args:
        handlers: event type → handler. Handlers add rows and outbox events to the session;
            they never commit.
        known_versions: newest payload version each handler understands; newer events are
            acknowledged and logged, not failed, so producers can upgrade first.
    """

    def __init__(
        self,
        inbox_model: type[InboxEventMixin],
        handlers: Mapping[str, EventHandler],
        known_versions: Mapping[str, int] | None = None,
    ) -> None:
        self.inbox_model = inbox_model
        self.handlers = dict(handlers)
        self.known_versions = dict(known_versions or {})

    async def __call__(self, ctx: dict[str, Any], envelope_json: dict[str, Any]) -> str:
        from services.observability import bind_trace

        envelope = EventEnvelope.model_validate(envelope_json)
        bind_trace(envelope.trace_id, event_id=str(envelope.id), event_type=envelope.type)
        handler = self.handlers.get(envelope.type)
        if handler is None:
            log.warning("event.unhandled_type")
            return "ignored"
        if envelope.version > self.known_versions.get(envelope.type, 1):
            log.warning("event.newer_version_ignored", version=envelope.version)
            return "ignored"
        sessionmaker: AsyncSessionMaker = ctx["sessionmaker"]
        queue_client: QueueClient | None = ctx.get("queue_client")
        try:
            async with sessionmaker() as session:
                if not await self._claim(session, envelope):
                    return "duplicate"
                await handler(session, envelope)
                try:
                    await session.commit()
                except IntegrityError:
                    # Another replica applied the same event concurrently: its inbox row won.
                    discard_pending(session)
                    discard_after_commit(session)
                    await session.rollback()
                    if await self._seen(sessionmaker, envelope):
                        return "duplicate"
                    raise
                await run_after_commit(session, queue_client)
        except (OperationalError, DBAPIError, OSError) as exc:
            # Database unreachable or restarting: try again later rather than fail the job.
            job_try = int(ctx.get("job_try", 1))
            log.warning("event.retry", error=str(exc)[:300], job_try=job_try)
            raise Retry(defer=min(2 * job_try, 30)) from exc
        return "handled"

    async def _claim(self, session: AsyncSession, envelope: EventEnvelope) -> bool:
        """Record the event as applied, in one round trip; ``False`` if it already was.

        A replica applying the same event concurrently holds the key until it commits or rolls
        back; the insert waits for that outcome instead of racing it.
        """
        claimed = await session.scalar(
            insert_on_conflict(session, self.inbox_model)
            .values(
                event_id=envelope.id,
                event_type=envelope.type,
                source=envelope.source,
                handled_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(self.inbox_model.event_id)
        )
        return claimed is not None

    async def _seen(self, sessionmaker: AsyncSessionMaker, envelope: EventEnvelope) -> bool:
        async with sessionmaker() as session:
            found = await session.scalar(
                select(self.inbox_model.event_id).where(self.inbox_model.event_id == envelope.id)
            )
            return found is not None
