"""Applying the other services' events to scoring's own fact tables (idempotent: the inbox
dedupes deliveries, and snapshots only move forward by revision)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.config import settings
from scoring_service.evaluation import tallies
from scoring_service.models import (
    CardFact,
    CaseFact,
    ProjectFact,
    RequestFact,
    RevisitTask,
    VisitFact,
)
from services.db import add_locked, lock_rows, locked_row, row_locks
from services.models import utcnow
from shared.calendar import SHANGHAI, default_calendar
from shared.enums import CaseStatus, ProjectStage
from shared.events import (
    CardSnapshot,
    CaseSnapshot,
    EventEnvelope,
    ProjectSnapshot,
    RequestPersonalDataErased,
    RequestSubmitted,
    VisitLogged,
    erased_submitter,
)

_REVISIT_AFTER = (CaseStatus.completed, CaseStatus.answered)


def _fields(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    columns = set(model.__table__.columns.keys())
    return {key: value for key, value in data.items() if key in columns}


async def apply_request(session: AsyncSession, event: RequestSubmitted) -> None:
    if await session.get(RequestFact, event.request_id) is not None:
        return
    request = RequestFact(
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
    session.add(request)
    tallies.request_recorded(session, request)


async def apply_personal_data_erased(
    session: AsyncSession, event: RequestPersonalDataErased
) -> None:
    """Intake erased the request's personal data (PIPL): the case fact keeps its figures and
    the kind of submitter, not the name and phone to revisit. Applied again: nothing to do
    (routing's next snapshot carries the erased submitter too)."""
    stmt = select(CaseFact).where(CaseFact.request_id == event.request_id)
    fact = await session.scalar(stmt.with_for_update() if row_locks(session) else stmt)
    if fact is None:
        return
    erased = erased_submitter(fact.submitter)
    if erased != fact.submitter:
        fact.submitter = erased


async def lock_cases(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    """The case facts a group of snapshots will update, read and locked in one statement."""
    await lock_rows(session, CaseFact, (uuid.UUID(e.data["case_id"]) for e in envelopes))


async def lock_cards(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    await lock_rows(session, CardFact, (uuid.UUID(e.data["card_id"]) for e in envelopes))


async def lock_projects(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    await lock_rows(session, ProjectFact, (uuid.UUID(e.data["project_id"]) for e in envelopes))


async def apply_case(session: AsyncSession, snapshot: CaseSnapshot) -> None:
    # Snapshots of one case can be applied by two workers at once: lock, then compare revisions.
    current = await locked_row(session, CaseFact, snapshot.case_id)
    if current is not None and current.revision >= snapshot.revision:
        return  # an older snapshot arriving late
    values = snapshot.model_dump()
    values["submitter"] = snapshot.submitter.model_dump(mode="json")
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
    was = current.status if current is not None else None
    before = tallies.view(current, CaseFact) if current is not None else None
    if current is None:
        current = CaseFact(**_fields(CaseFact, values))
        add_locked(session, current, snapshot.case_id)
    else:
        for key, value in _fields(CaseFact, values).items():
            setattr(current, key, value)
    await tallies.case_changed(session, before, current)
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
    before = tallies.view(current, CardFact) if current is not None else None
    if current is None:
        current = CardFact(**_fields(CardFact, values))
        add_locked(session, current, snapshot.card_id)
    else:
        for key, value in _fields(CardFact, values).items():
            setattr(current, key, value)
    await tallies.card_changed(session, before, current)


def _reached(snapshot: ProjectSnapshot, stage: ProjectStage) -> date | None:
    dates = snapshot.stage_dates.get(stage)
    return dates.actual if dates is not None else None


async def apply_project(
    session: AsyncSession, snapshot: ProjectSnapshot, occurred_at: datetime
) -> None:
    """Keep the newest revision of a project; ``occurred_at`` (when routing sent it) dates a
    termination that routing does not date itself."""
    current = await locked_row(session, ProjectFact, snapshot.project_id)
    if current is not None and current.revision >= snapshot.revision:
        return
    terminated_on: date | None = None
    if snapshot.stage == ProjectStage.terminated:
        # Termination is final: the first snapshot that shows it dates it.
        terminated_on = (
            (current.terminated_on if current is not None else None)
            or _reached(snapshot, ProjectStage.terminated)
            or occurred_at.astimezone(SHANGHAI).date()
        )
    values: dict[str, Any] = {
        "project_id": snapshot.project_id,
        "revision": snapshot.revision,
        "tracking_no": snapshot.tracking_no,
        "name": snapshot.name,
        "enterprise_name": snapshot.enterprise_name,
        "uscc": snapshot.uscc,
        "investment": Decimal(snapshot.investment),
        "industry": snapshot.industry,
        "level": snapshot.level.value,
        "stage": snapshot.stage.value,
        "area_unit_code": snapshot.area_unit_code,
        "area_unit_path": snapshot.area_unit_path,
        "center_unit_code": snapshot.center_unit_code,
        "center_unit_path": snapshot.center_unit_path,
        "stage_dates": {
            stage.value: dates.model_dump(mode="json")
            for stage, dates in snapshot.stage_dates.items()
        },
        "created_at": snapshot.created_at,
        "started_on": _reached(snapshot, ProjectStage.started),
        "continuing_on": _reached(snapshot, ProjectStage.continuing),
        "completed_on": _reached(snapshot, ProjectStage.completed),
        "terminated_on": terminated_on,
    }
    if current is None:
        add_locked(session, ProjectFact(**values), snapshot.project_id)
    else:
        for key, value in values.items():
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
