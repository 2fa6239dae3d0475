"""Applying the other services' events to scoring's own fact tables (idempotent: the inbox
dedupes deliveries, and snapshots only move forward by revision)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.config import settings
from scoring_service.models import CardFact, CaseFact, RequestFact, RevisitTask, VisitFact
from services.db import add_locked, lock_rows, locked_row
from services.models import utcnow
from shared.calendar import default_calendar
from shared.enums import CaseStatus
from shared.events import (
    CardSnapshot,
    CaseSnapshot,
    EventEnvelope,
    RequestSubmitted,
    VisitLogged,
)

_REVISIT_AFTER = (CaseStatus.completed, CaseStatus.answered)


def _fields(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    columns = set(model.__table__.columns.keys())
    return {key: value for key, value in data.items() if key in columns}


async def apply_request(session: AsyncSession, event: RequestSubmitted) -> None:
    if await session.get(RequestFact, event.request_id) is not None:
        return
    session.add(
        RequestFact(
            request_id=event.request_id,
            tracking_no=event.tracking_no,
            channel=event.channel.value,
            type=event.type.value,
            topic=event.topic.value,
            duplicate=event.duplicate_of is not None,
            anonymous=event.anonymous,
            submitter_kind=event.submitter.kind.value,
            uscc=event.submitter.uscc,
            enterprise_name=event.submitter.enterprise_name,
            cppcc_visit_id=event.cppcc_visit_id,
            received_at=event.received_at,
        )
    )


async def lock_cases(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    """The case facts a group of snapshots will update, read and locked in one statement."""
    await lock_rows(session, CaseFact, (uuid.UUID(e.data["case_id"]) for e in envelopes))


async def lock_cards(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    await lock_rows(session, CardFact, (uuid.UUID(e.data["card_id"]) for e in envelopes))


async def apply_case(session: AsyncSession, snapshot: CaseSnapshot) -> None:
    # Snapshots of one case can be applied by two workers at once: lock, then compare revisions.
    current = await locked_row(session, CaseFact, snapshot.case_id)
    if current is not None and current.revision >= snapshot.revision:
        return  # an older snapshot arriving late
    values = snapshot.model_dump()
    values["submitter"] = snapshot.submitter.model_dump(mode="json")
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
    was = current.status if current is not None else None
    if current is None:
        add_locked(session, CaseFact(**_fields(CaseFact, values)), snapshot.case_id)
    else:
        for key, value in _fields(CaseFact, values).items():
            setattr(current, key, value)
    if snapshot.status in _REVISIT_AFTER and was != snapshot.status.value:
        await _open_revisit(session, snapshot)


async def _open_revisit(session: AsyncSession, snapshot: CaseSnapshot) -> None:
    from sqlalchemy import select

    exists = await session.scalar(
        select(RevisitTask.id).where(
            RevisitTask.case_id == snapshot.case_id, RevisitTask.round == snapshot.redo_count
        )
    )
    if exists is not None:
        return
    finished = snapshot.completed_at or utcnow()
    due = default_calendar().add_working_days(finished, settings.revisit_days).due_at
    session.add(
        RevisitTask(case_id=snapshot.case_id, round=snapshot.redo_count, status="open", due_at=due)
    )


async def apply_card(session: AsyncSession, snapshot: CardSnapshot) -> None:
    current = await locked_row(session, CardFact, snapshot.card_id)
    if current is not None and current.revision >= snapshot.revision:
        return
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in snapshot.model_dump().items()}
    if current is None:
        add_locked(session, CardFact(**_fields(CardFact, values)), snapshot.card_id)
    else:
        for key, value in _fields(CardFact, values).items():
            setattr(current, key, value)


async def apply_visit(session: AsyncSession, event: VisitLogged) -> None:
    if await session.get(VisitFact, event.visit_id) is not None:
        return
    session.add(
        VisitFact(
            id=event.visit_id,
            channel=event.channel.value,
            target_kind=event.target_kind,
            target_key=event.uscc or event.target_name,
            target_name=event.target_name,
            visited_on=event.visited_on,
            recorded_by=event.recorded_by,
        )
    )
