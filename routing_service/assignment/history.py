"""The append-only, hash-chained history of every case (what the discipline commission audits).

Each event's hash is ``H(prev_hash || canonical JSON of the event)``; the case row keeps the
head hash and sequence number, and is locked while an event is appended, so a chain never forks.
``H`` is SM3 (GB/T 32905, what GB/T 39786 asks for audit integrity) or SHA-256; each event records
the one it was hashed with, so chains written before the switch to SM3 keep verifying and simply
continue with SM3 events (``ROUTING_HISTORY_HASH`` picks the algorithm for new events).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

import orjson
from cryptography.hazmat.primitives import hashes
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.config import HistoryHash, settings
from routing_service.models import Case, CaseEvent
from services.models import utcnow

GENESIS = "0" * 64
HASH_ALGORITHMS: frozenset[str] = frozenset(get_args(HistoryHash))


def current_algorithm() -> HistoryHash:
    """The algorithm new events are hashed with (read per call: the setting may change)."""
    return settings.history_hash


def distinct_algorithms(found: list[str]) -> list[str]:
    """The algorithms a chain uses, in the order they first appear (old chains: sha256, sm3)."""
    return list(dict.fromkeys(found))


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
    alg: str,
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
        alg,
    )


def hex_digest(alg: str, data: bytes) -> str:
    """``data`` hashed with "sm3" or "sha256" (both 256-bit: hashes keep 64 hex characters)."""
    if alg == "sm3":
        digest = hashes.Hash(hashes.SM3())
        digest.update(data)
        return digest.finalize().hex()
    if alg == "sha256":
        return hashlib.sha256(data).hexdigest()
    raise ValueError(f"unknown history hash algorithm: {alg!r}")


def chain_digest(prev_hash: str, body: dict[str, Any], alg: str) -> str:
    """One link of any history chain (cases, projects): ``H(prev_hash || canonical JSON)``."""
    return hex_digest(alg, prev_hash.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event to append to ``case``'s chain (the arguments of :func:`record`)."""

    case: Case
    actor: str
    action: str
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    data: dict[str, Any] | None = None
    card_id: uuid.UUID | None = None
    at: datetime | None = None


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
    new = NewEvent(case, actor, action, from_status, to_status, reason, data, card_id, at)
    event = CaseEvent(**_link(new))
    session.add(event)
    return event


async def record_many(session: AsyncSession, events: Sequence[NewEvent]) -> None:
    """:func:`record` for many events (a batch job's, in order; several may share a case):
    the same chained rows, written with one INSERT instead of one ORM object each."""
    rows = [_link(event) for event in events]
    if rows:
        await session.execute(insert(CaseEvent), rows)


def _link(event: NewEvent) -> dict[str, Any]:
    """The next link of the event's case chain (column values); moves the case's head to it."""
    case = event.case
    at = event.at or utcnow()
    # Stored timestamps keep microseconds on both PostgreSQL and SQLite; hash what is stored.
    payload = event.data or {}
    prev = case.history_head or GENESIS
    seq = case.history_seq + 1
    alg = current_algorithm()
    digest = event_digest(
        prev,
        case_id=case.id,
        seq=seq,
        card_id=event.card_id,
        actor=event.actor,
        action=event.action,
        from_status=event.from_status,
        to_status=event.to_status,
        reason=event.reason,
        data=payload,
        at=at,
        alg=alg,
    )
    case.history_head = digest
    case.history_seq = seq
    return {
        "case_id": case.id,
        "seq": seq,
        "card_id": event.card_id,
        "actor": event.actor,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "reason": event.reason,
        "data": payload,
        "at": at,
        "prev_hash": prev,
        "hash": digest,
        "hash_alg": alg,
    }


@dataclass(frozen=True)
class ChainCheck:
    case_id: uuid.UUID
    events: int
    valid: bool
    broken_at_seq: int | None = None
    problem: str | None = None
    # Every algorithm the chain's events were hashed with, and the one new events get.
    algorithms: list[str] = field(default_factory=list)
    current_algorithm: str = field(default_factory=current_algorithm)


async def verify_chain(session: AsyncSession, case: Case) -> ChainCheck:
    """Recompute every event with the algorithm it records, so a chain that switched from
    SHA-256 to SM3 part-way verifies; an algorithm this code does not know breaks the chain."""
    events = (
        await session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    ).all()
    algorithms = distinct_algorithms([event.hash_alg for event in events])

    def check(valid: bool, at: int | None = None, problem: str | None = None) -> ChainCheck:
        return ChainCheck(case.id, len(events), valid, at, problem, algorithms)

    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return check(False, expected_seq, "missing event")
        if event.prev_hash != prev:
            return check(False, event.seq, "prev_hash mismatch")
        if event.hash_alg not in HASH_ALGORITHMS:
            return check(False, event.seq, "unknown hash algorithm")
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
            alg=event.hash_alg,
        )
        if digest != event.hash:
            return check(False, event.seq, "content altered")
        prev = digest
    if (case.history_head or GENESIS) != prev or case.history_seq != len(events):
        return check(False, len(events), "head mismatch (events removed)")
    return check(True)
