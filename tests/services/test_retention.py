"""Bookkeeping retention (services/retention.py): what served and aged out is deleted, what is
still work (unconfirmed outbox rows) or still young is kept, in batches."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.models import IdempotencyRecord, InboxEvent, OutboxEvent
from intake_service.spec import spec
from services import retention
from services.db import AsyncSessionMaker
from services.models import utcnow


def _outbox(created: datetime, confirmed: datetime | None) -> OutboxEvent:
    return OutboxEvent(event_id=uuid.uuid4(), event_type="request.submitted", queue="routing",
                       envelope={}, created_at=created, pushed_at=created, confirmed_at=confirmed)  # fmt: skip


async def _seed(session: AsyncSession, now: datetime) -> None:
    old, young = now - timedelta(days=40), now - timedelta(hours=1)
    session.add_all(
        [
            *(_outbox(old, old + timedelta(seconds=1)) for _ in range(7)),  # served, aged out
            _outbox(young, young),  # served, young
            _outbox(old, None),  # never confirmed: the relay's, kept whatever its age
            *(
                InboxEvent(event_id=uuid.uuid4(), event_type="t", source="routing", handled_at=old)
                for _ in range(5)
            ),  # fmt: skip
            InboxEvent(event_id=uuid.uuid4(), event_type="t", source="routing", handled_at=young),
            *(
                IdempotencyRecord(
                    client_id="c",
                    key=f"old-{i}",
                    fingerprint="f",
                    status_code=201,
                    response_body={},
                    created_at=old,
                )
                for i in range(6)
            ),  # fmt: skip
            IdempotencyRecord(
                client_id="c",
                key="young",
                fingerprint="f",
                status_code=201,
                response_body={},
                created_at=young,
            ),  # fmt: skip
        ]
    )
    await session.commit()


async def _count(session: AsyncSession, model: type) -> int:
    return (await session.scalar(select(func.count()).select_from(model))) or 0


async def test_aged_bookkeeping_is_deleted_in_batches_and_the_rest_kept(
    intake_sessionmaker: AsyncSessionMaker,
    intake_session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = utcnow()
    await _seed(intake_session, now)
    monkeypatch.setattr(retention, "BATCH", 2)  # several batches per table

    deleted = await retention.purge_bookkeeping(intake_sessionmaker, spec, now)

    assert deleted == {"outbox": 7, "inbox": 5, "idempotency": 6}
    assert await _count(intake_session, OutboxEvent) == 2
    assert (await intake_session.scalar(
        select(func.count()).where(OutboxEvent.confirmed_at.is_(None)))) == 1  # fmt: skip
    assert await _count(intake_session, InboxEvent) == 1
    keys = (await intake_session.scalars(select(IdempotencyRecord.key))).all()
    assert keys == ["young"]
    # Nothing left to do: a second run deletes nothing.
    assert await retention.purge_bookkeeping(intake_sessionmaker, spec, now) == dict.fromkeys(
        deleted, 0
    )


async def test_a_run_stops_at_its_time_budget(
    intake_sessionmaker: AsyncSessionMaker,
    intake_session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = utcnow()
    await _seed(intake_session, now)
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "RUN_SECONDS", 0.0)
    assert await retention.purge_bookkeeping(intake_sessionmaker, spec, now) == {
        "outbox": 0, "inbox": 0, "idempotency": 0}  # fmt: skip
    assert await _count(intake_session, OutboxEvent) == 9
