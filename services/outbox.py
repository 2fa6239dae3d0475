"""Transactional outbox: events are rows written with the change that caused them.

Fast path: right after the commit, the rows of that transaction are pushed to their queues.
Safety net: :func:`relay_outbox` (a worker cron) looks at every row not yet confirmed, asks
Redis what became of its job, confirms finished ones and re-pushes lost ones (worker crashed
before the push, Redis was down or restarted and forgot its queue). Job ids are derived from
the event id, so a re-push never makes two live jobs; consumers dedupe through their inbox.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import row_locks
from services.models import OutboxEventMixin, utcnow
from services.queue import JobRequest, QueueClient, enqueue_many
from shared.events import EventData, EventEnvelope, routes_for
from shared.jobs import handle_event_job

__all__ = ["add_event", "batched", "committed_jobs", "relay_outbox"]

log = structlog.get_logger(__name__)

# A row younger than this is left to the fast path.
RELAY_GRACE = timedelta(seconds=2)
RELAY_BATCH = 500
MAX_REDELIVERIES = 25
PENDING_KEY = "outbox_pending"
BATCH_KEY = "outbox_batch"


def add_event(
    session: AsyncSession, data: EventData, *, trace_id: str | None = None
) -> EventEnvelope:
    """Record an event in the current transaction, one outbox row per consuming queue
    (inside :func:`batched`, the rows wait for the batch's one INSERT).

    Args:
        session: the transaction that makes the change the event reports.
        data: the typed payload; its class names the event type and version.
        trace_id: carried to the consumer's logs.
    """
    envelope, rows = _outbox_rows(session, data, trace_id)
    batch: list[dict[str, Any]] | None = session.info.get(BATCH_KEY)
    if batch is not None:
        batch.extend(rows)
    else:
        model: type[OutboxEventMixin] = session.info["outbox_model"]
        session.add_all([model(**row) for row in rows])
    return envelope


@asynccontextmanager
async def batched(session: AsyncSession) -> AsyncIterator[None]:
    """The events added inside are written with one INSERT when the block ends, instead of one
    ORM object each (for a batch job: the unit of work costs more than the row). The same
    rows and after-commit jobs; nothing is written if the block raises."""
    if BATCH_KEY in session.info:  # nested: the outer batch writes them
        yield
        return
    rows: list[dict[str, Any]] = []
    session.info[BATCH_KEY] = rows
    try:
        yield
    finally:
        del session.info[BATCH_KEY]
    if rows:
        model: type[OutboxEventMixin] = session.info["outbox_model"]
        await session.execute(insert(model), rows)


def _outbox_rows(
    session: AsyncSession, data: EventData, trace_id: str | None
) -> tuple[EventEnvelope, list[dict[str, Any]]]:
    """The event's envelope and its outbox rows (column values), each row's job kept for the
    after-commit push."""
    from services.observability import current_trace_id

    envelope = EventEnvelope(
        type=data.TYPE,
        version=data.VERSION,
        source=session.info["service_name"],
        data=data.model_dump(mode="json"),
        trace_id=trace_id or current_trace_id(),
    )
    envelope_json = envelope.model_dump(mode="json")
    pending: list[JobRequest] = session.info.setdefault(PENDING_KEY, [])
    rows = []
    for queue in routes_for(data.TYPE):
        rows.append(
            {
                "event_id": envelope.id,
                "event_type": envelope.type,
                "queue": queue,
                "envelope": envelope_json,
                "created_at": utcnow(),
            }
        )
        pending.append(_job(queue, envelope_json))
    return envelope, rows


def job_id_for(event_id: uuid.UUID | str, queue: str) -> str:
    return f"evt:{event_id}:{queue}"


def _job(queue: str, envelope: dict[str, Any]) -> JobRequest:
    return JobRequest(
        handle_event_job(queue), (envelope,), job_id_for(envelope["id"], queue), queue
    )


def committed_jobs(session: AsyncSession) -> list[JobRequest]:
    """The queue jobs for the events of the transaction that just committed (taken from the
    session, so they are pushed once); :func:`services.db.run_after_commit` pushes them."""
    jobs: list[JobRequest] = session.info.pop(PENDING_KEY, [])
    return jobs


async def relay_outbox(
    session: AsyncSession, queue_client: QueueClient, *, batch: int = RELAY_BATCH
) -> dict[str, int]:
    """Confirm delivered events and re-push lost ones. Returns counts for logs and metrics.

    The caller commits. On PostgreSQL rows are locked with SKIP LOCKED, so several worker
    replicas can relay at once without doing the same row twice.
    """
    model: type[OutboxEventMixin] = session.info["outbox_model"]
    cutoff = utcnow() - RELAY_GRACE
    stmt = (
        select(model)
        .where(
            model.confirmed_at.is_(None),
            model.created_at < cutoff,
            model.attempts < MAX_REDELIVERIES,
        )
        .order_by(model.id)
        .limit(batch)
    )
    if row_locks(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list((await session.scalars(stmt)).all())
    counts = {"confirmed": 0, "pushed": 0, "waiting": 0, "failed": 0}
    if not rows:
        return counts

    redis = queue_client.redis
    async with redis.pipeline(transaction=False) as pipe:
        for row in rows:
            job_id = job_id_for(row.event_id, row.queue)
            pipe.get(result_key_prefix + job_id)
            pipe.exists(in_progress_key_prefix + job_id)
            pipe.exists(job_key_prefix + job_id)
        replies = await pipe.execute()

    now = utcnow()
    lost: list[OutboxEventMixin] = []
    for index, row in enumerate(rows):
        result_raw, in_progress, queued = replies[index * 3 : index * 3 + 3]
        job_id = job_id_for(row.event_id, row.queue)
        if result_raw is not None:
            result = redis.job_deserializer(result_raw) if redis.job_deserializer else {}
            if result.get("s"):
                row.confirmed_at = now
                counts["confirmed"] += 1
                continue
            # The consumer gave up after its retries: clear the failed result and try again
            # later, up to MAX_REDELIVERIES, so a poison event does not loop forever.
            row.attempts += 1
            row.last_error = str(result.get("r"))[:2000]
            await redis.delete(result_key_prefix + job_id)
            counts["failed"] += 1
            continue
        if in_progress or queued:
            counts["waiting"] += 1
            continue
        lost.append(row)
    await enqueue_many(redis, [_job(row.queue, row.envelope) for row in lost])
    for row in lost:
        row.attempts += 1
    counts["pushed"] = len(lost)
    return counts
