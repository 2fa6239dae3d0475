"""Retention of the kit's bookkeeping rows, so that they grow with the traffic of a window and
not with all history.

- Outbox rows, once the relay confirmed their job finished, are kept for
  ``OUTBOX_RETENTION_DAYS`` (for tracing an event back) and then deleted. Unconfirmed rows are
  never deleted: they are the relay's work.
- Inbox rows are the consumer's dedupe memory. A redelivery only ever comes from an unconfirmed
  outbox row or an arq retry, both long over after ``INBOX_RETENTION_DAYS``.
- Idempotency records answer a client's retries for ``IDEMPOTENCY_RETENTION_DAYS``; a retry
  later than that is a new request (as with Stripe's or Adyen's keys).

Deletes go in batches, each its own short transaction, for at most ``RUN_SECONDS`` per run,
so a large backlog after an upgrade never holds locks or a worker for long; what is left over
is taken by the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, select, tuple_

from services.db import AsyncSessionMaker
from services.spec import ServiceSpec

__all__ = ["purge_bookkeeping"]

BATCH = 5000
RUN_SECONDS = 20.0


async def purge_bookkeeping(
    sessionmaker: AsyncSessionMaker, spec: ServiceSpec, now: datetime
) -> dict[str, int]:
    """Delete what is past retention; returns the rows deleted per table."""
    settings = spec.settings
    outbox, inbox, records = spec.outbox_model, spec.inbox_model, spec.idempotency_model
    outbox_cutoff = now - timedelta(days=settings.outbox_retention_days)
    inbox_cutoff = now - timedelta(days=settings.inbox_retention_days)
    records_cutoff = now - timedelta(days=settings.idempotency_retention_days)
    statements: dict[str, Callable[[], Delete]] = {
        "outbox": lambda: delete(outbox).where(
            outbox.id.in_(
                select(outbox.id)
                .where(outbox.confirmed_at.is_not(None), outbox.confirmed_at < outbox_cutoff)
                .limit(BATCH)
            )
        ),
        "inbox": lambda: delete(inbox).where(
            inbox.event_id.in_(
                select(inbox.event_id).where(inbox.handled_at < inbox_cutoff).limit(BATCH)
            )
        ),
        "idempotency": lambda: delete(records).where(
            tuple_(records.client_id, records.key).in_(
                select(records.client_id, records.key)
                .where(records.created_at < records_cutoff)
                .limit(BATCH)
            )
        ),
    }
    deleted = dict.fromkeys(statements, 0)
    deadline = time.monotonic() + RUN_SECONDS
    for table, statement in statements.items():
        while time.monotonic() < deadline:
            async with sessionmaker() as session:
                result = cast(CursorResult[Any], await session.execute(statement()))
                await session.commit()
            count = int(result.rowcount or 0)
            deleted[table] += count
            if count < BATCH:
                break
    return deleted
