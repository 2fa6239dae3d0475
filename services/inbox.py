"""Consuming events exactly once in effect: the inbox records each applied event id in the same
transaction as the effect, so a redelivered event (arq runs jobs at least once) changes nothing.

The events a worker is running at the same moment are applied together (group commit): one
transaction claims their ids in one statement, runs their handlers in arrival order, commits
once and pushes what they emitted in one pipeline. At low rates each event is a group of one;
under load the per-event cost of a transaction, its round trips and its fsync is shared. If a
group fails, each of its events is applied alone, so one bad event never fails its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from arq import Retry
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import (
    AsyncSessionMaker,
    insert_on_conflict,
    run_after_commit,
)
from services.group_commit import GroupCommit
from services.models import InboxEventMixin, utcnow
from services.queue import QueueClient
from shared.events import EventEnvelope

__all__ = ["EventConsumer", "EventHandler"]

log = structlog.get_logger(__name__)

EventHandler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]
# Reads (and locks) what a group's events of one type will need, in one statement, before their
# handlers run: see :func:`services.db.lock_rows`.
Prefetch = Callable[[AsyncSession, Sequence[EventEnvelope]], Awaitable[None]]


# A worker picks up a poll's jobs together, but each reaches the consumer after its own Redis
# round trip: waiting this long gathers them into one transaction. Negligible next to the poll
# interval (50 ms) the events already waited.
GROUP_LINGER = 0.005


@dataclass(frozen=True, slots=True)
class _Delivery:
    envelope: EventEnvelope
    handler: EventHandler
    sessionmaker: AsyncSessionMaker
    queue_client: QueueClient | None


class EventConsumer:
    """Dispatches one queue's events to handlers by type, through the inbox.

    Args:
        handlers: event type → handler. Handlers add rows and outbox events to the session;
            they never commit.
        known_versions: newest payload version each handler understands; newer events are
            acknowledged and logged, not failed, so producers can upgrade first.
        prefetch: event type → what to read for a group's events of that type at once.
        linger: how long a group waits for more events before it commits (see GroupCommit).
    """

    def __init__(
        self,
        inbox_model: type[InboxEventMixin],
        handlers: Mapping[str, EventHandler],
        known_versions: Mapping[str, int] | None = None,
        *,
        prefetch: Mapping[str, Prefetch] | None = None,
        name: str = "events",
        max_group: int = 32,
        linger: float = GROUP_LINGER,
    ) -> None:
        self.inbox_model = inbox_model
        self.handlers = dict(handlers)
        self.known_versions = dict(known_versions or {})
        self.prefetch = dict(prefetch or {})
        self._name = f"{name}_events"
        self._max_group = max_group
        self._linger = linger
        self._groups: GroupCommit[_Delivery, str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _groups_here(self) -> GroupCommit[_Delivery, str]:
        # One group committer per event loop (tests run several loops in one process).
        loop = asyncio.get_running_loop()
        if self._groups is None or self._loop is not loop:
            self._groups = GroupCommit(
                self._name, self._apply, max_group=self._max_group, linger=self._linger
            )
            self._loop = loop
        return self._groups

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
        delivery = _Delivery(envelope, handler, sessionmaker, ctx.get("queue_client"))
        try:
            try:
                return await self._groups_here().submit(delivery)
            except IntegrityError:
                # Another replica applied the same event concurrently: its inbox row won.
                if await self._seen(sessionmaker, envelope):
                    return "duplicate"
                raise
        except (OperationalError, DBAPIError, OSError) as exc:
            # Database unreachable or restarting: try again later rather than fail the job.
            job_try = int(ctx.get("job_try", 1))
            log.warning("event.retry", error=str(exc)[:300], job_try=job_try)
            raise Retry(defer=min(2 * job_try, 30)) from exc

    async def _apply(self, deliveries: Sequence[_Delivery]) -> list[str]:
        """Apply a group in one transaction; per event "handled" or "duplicate"."""
        from services.observability import bind_trace

        first = deliveries[0]
        async with first.sessionmaker() as session:
            claimed = await self._claim(session, [d.envelope for d in deliveries])
            await self._prefetch(
                session, [d.envelope for d in deliveries if d.envelope.id in claimed]
            )
            outcomes: list[str] = []
            for delivery in deliveries:
                envelope = delivery.envelope
                if envelope.id not in claimed:
                    outcomes.append("duplicate")
                    continue
                claimed.discard(envelope.id)  # the same event twice in a group: once
                bind_trace(envelope.trace_id, event_id=str(envelope.id), event_type=envelope.type)
                await delivery.handler(session, envelope)
                outcomes.append("handled")
            # A failed commit leaves with the session, and the pushes it had queued with it.
            await session.commit()
            await run_after_commit(session, first.queue_client)
        return outcomes

    async def _prefetch(self, session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
        by_type: dict[str, list[EventEnvelope]] = {}
        for envelope in envelopes:
            if envelope.type in self.prefetch:
                by_type.setdefault(envelope.type, []).append(envelope)
        for event_type, of_type in by_type.items():
            await self.prefetch[event_type](session, of_type)

    async def _claim(self, session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> set[Any]:
        """Record the events as applied, in one statement; returns the ids not applied before.

        Ids are inserted in sorted order, so two replicas claiming overlapping groups take the
        keys in the same order and cannot deadlock. A replica applying one of the events
        concurrently holds its key until it commits or rolls back; the insert waits for that
        outcome instead of racing it.
        """
        unique = sorted({e.id: e for e in envelopes}.values(), key=lambda e: e.id)
        now = utcnow()
        table = sa_inspect(self.inbox_model).local_table
        # Parameters as a list, not .values(rows): the same one multi-row statement, compiled
        # once per process instead of on every group.
        claimed = await session.scalars(
            insert_on_conflict(session, table)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(table.c.event_id),
            [
                {"event_id": e.id, "event_type": e.type, "source": e.source, "handled_at": now}
                for e in unique
            ],
        )
        return set(claimed.all())

    async def _seen(self, sessionmaker: AsyncSessionMaker, envelope: EventEnvelope) -> bool:
        async with sessionmaker() as session:
            found = await session.scalar(
                select(self.inbox_model.event_id).where(self.inbox_model.event_id == envelope.id)
            )
            return found is not None
