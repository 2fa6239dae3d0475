"""The append-only, hash-chained history of every case (what the discipline commission audits).

Each event's hash is ``sha256(prev_hash || canonical JSON of the event)``; the case row keeps the
head hash and sequence number, and is locked while an event is appended, so a chain never forks.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import Case, CaseEvent
from services.models import utcnow

GENESIS = "0" * 64


def event_digest(
    prev_hash: str,
    *,
    case_id: uuid.UUID,
    seq: int,
    card_id: uuid.UUID | None,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    reason: str | None,
    data: dict[str, Any],
    at: datetime,
) -> str:
    return chain_digest(
        prev_hash,
        {
            "case_id": str(case_id),
            "seq": seq,
            "card_id": str(card_id) if card_id else None,
            "actor": actor,
            "action": action,
            "from": from_status,
            "to": to_status,
            "reason": reason,
            "data": data,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        },
    )


def chain_digest(prev_hash: str, body: dict[str, Any]) -> str:
    """One link of any history chain (cases, projects): ``sha256(prev_hash || canonical JSON)``."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


def record(
    session: AsyncSession,
    case: Case,
    *,
    actor: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    card_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> CaseEvent:
    """Append one event to the case's chain (the caller holds the case row lock)."""
    at = at or utcnow()
    # Stored timestamps keep microseconds on both PostgreSQL and SQLite; hash what is stored.
    payload = data or {}
    prev = case.history_head or GENESIS
    seq = case.history_seq + 1
    digest = event_digest(
        prev,
        case_id=case.id,
        seq=seq,
        card_id=card_id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=payload,
        at=at,
    )
    event = CaseEvent(
        case_id=case.id,
        seq=seq,
        card_id=card_id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=payload,
        at=at,
        prev_hash=prev,
        hash=digest,
    )
    session.add(event)
    case.history_head = digest
    case.history_seq = seq
    return event


@dataclass(frozen=True)
class ChainCheck:
    case_id: uuid.UUID
    events: int
    valid: bool
    broken_at_seq: int | None = None
    problem: str | None = None


async def verify_chain(session: AsyncSession, case: Case) -> ChainCheck:
    events = (
        await session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    ).all()
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return ChainCheck(case.id, len(events), False, expected_seq, "missing event")
        if event.prev_hash != prev:
            return ChainCheck(case.id, len(events), False, event.seq, "prev_hash mismatch")
        digest = event_digest(
            prev,
            case_id=event.case_id,
            seq=event.seq,
            card_id=event.card_id,
            actor=event.actor,
            action=event.action,
            from_status=event.from_status,
            to_status=event.to_status,
            reason=event.reason,
            data=event.data,
            at=event.at,
        )
        if digest != event.hash:
            return ChainCheck(case.id, len(events), False, event.seq, "content altered")
        prev = digest
    if (case.history_head or GENESIS) != prev or case.history_seq != len(events):
        return ChainCheck(
            case.id, len(events), False, len(events), "head mismatch (events removed)"
        )
    return ChainCheck(case.id, len(events), True)
