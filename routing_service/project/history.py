"""A project's append-only, hash-chained history: the cases' chain (``chain_digest``) over the
project's own events, each hashed with the algorithm it records (SM3 for new events by default).
The project row is locked while an event is appended, so a chain never forks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment.history import (
    GENESIS,
    HASH_ALGORITHMS,
    chain_digest,
    current_algorithm,
    distinct_algorithms,
)
from routing_service.models import Project, ProjectEvent
from routing_service.project.schemas import ProjectChainCheckOut
from services.models import utcnow


def _digest(prev: str, project_id: uuid.UUID, seq: int, event: dict[str, Any], alg: str) -> str:
    return chain_digest(
        prev,
        {
            "project_id": str(project_id),
            "seq": seq,
            "actor": event["actor"],
            "action": event["action"],
            "from": event["from_status"],
            "to": event["to_status"],
            "reason": event["reason"],
            "data": event["data"],
            "at": event["at"].astimezone(UTC).isoformat(timespec="microseconds"),
        },
        alg,
    )


def record(
    session: AsyncSession,
    project: Project,
    *,
    actor: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> ProjectEvent:
    """Append one event to the project's chain (the caller holds the project row lock)."""
    fields: dict[str, Any] = {
        "actor": actor,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "data": data or {},
        "at": at or utcnow(),
    }
    prev = project.history_head or GENESIS
    seq = project.history_seq + 1
    alg = current_algorithm()
    digest = _digest(prev, project.id, seq, fields, alg)
    event = ProjectEvent(
        project_id=project.id, seq=seq, prev_hash=prev, hash=digest, hash_alg=alg, **fields
    )
    session.add(event)
    project.history_head = digest
    project.history_seq = seq
    return event


async def events(session: AsyncSession, project_id: uuid.UUID) -> list[ProjectEvent]:
    return list(
        (
            await session.scalars(
                select(ProjectEvent)
                .where(ProjectEvent.project_id == project_id)
                .order_by(ProjectEvent.seq)
            )
        ).all()
    )


async def verify_chain(session: AsyncSession, project: Project) -> ProjectChainCheckOut:
    """Recompute every event with the algorithm it records (see the cases' ``verify_chain``)."""
    found = await events(session, project.id)
    algorithms = distinct_algorithms([event.hash_alg for event in found])

    def check(
        valid: bool, at: int | None = None, problem: str | None = None
    ) -> ProjectChainCheckOut:
        return ProjectChainCheckOut(
            project_id=project.id, events=len(found), valid=valid, broken_at_seq=at,
            problem=problem, algorithms=algorithms, current_algorithm=current_algorithm(),
        )  # fmt: skip

    prev = GENESIS
    for expected_seq, event in enumerate(found, start=1):
        if event.seq != expected_seq:
            return check(False, expected_seq, "missing event")
        if event.prev_hash != prev:
            return check(False, event.seq, "prev_hash mismatch")
        if event.hash_alg not in HASH_ALGORITHMS:
            return check(False, event.seq, "unknown hash algorithm")
        fields = {
            "actor": event.actor,
            "action": event.action,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "reason": event.reason,
            "data": event.data,
            "at": event.at,
        }
        digest = _digest(prev, event.project_id, event.seq, fields, event.hash_alg)
        if digest != event.hash:
            return check(False, event.seq, "content altered")
        prev = digest
    if (project.history_head or GENESIS) != prev or project.history_seq != len(found):
        return check(False, len(found), "head mismatch (events removed)")
    return check(True)
