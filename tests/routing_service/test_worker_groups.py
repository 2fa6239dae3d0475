"""The routing worker turns a group of new requests into cases in one transaction: one read
finds which requests already have a case, the org root is read once, and the cases, their
history and their events are written at the commit, not one flush per request."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, select

from routing_service.assignment.history import verify_chain
from routing_service.models import Case, CaseEvent, InboxEvent, OutboxEvent
from routing_service.worker import HANDLERS, lock_request_cases
from services.db import AsyncSessionMaker
from services.inbox import EventConsumer, _Delivery
from shared.events import EventEnvelope, RequestSubmitted
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, request_event


def delivery(sessionmaker: AsyncSessionMaker, request_id: uuid.UUID) -> _Delivery:
    data = request_event(request_id=request_id).model_dump(mode="json")
    envelope = EventEnvelope(type=RequestSubmitted.TYPE, source="intake", data=data)
    return _Delivery(envelope, HANDLERS[RequestSubmitted.TYPE], sessionmaker, None)


async def test_a_group_of_new_requests_becomes_cases_in_one_round_of_statements(
    routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    consumer = EventConsumer(
        InboxEvent,
        HANDLERS,
        prefetch={RequestSubmitted.TYPE: lock_request_cases},
        name="routinggroups",
    )
    existing = uuid.uuid4()
    await arrive(routing_sessionmaker, request_id=existing)  # its case exists already
    new = [uuid.uuid4() for _ in range(4)]
    group = [delivery(routing_sessionmaker, r) for r in (new[0], existing, *new[1:])]

    statements: list[str] = []
    engine = routing_sessionmaker.kw["bind"].sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert await consumer._apply(group) == ["handled"] * 5
    finally:
        event.remove(engine, "before_cursor_execute", record)

    case_reads = [s for s in statements if s.startswith("SELECT") and 'FROM "case"' in s]
    root_reads = [s for s in statements if s.startswith("SELECT") and "FROM org_unit" in s]
    case_inserts = [s for s in statements if s.startswith('INSERT INTO "case"')]
    assert (len(case_reads), len(root_reads), len(case_inserts)) == (1, 1, 1), statements

    async with routing_sessionmaker() as session:
        cases = (await session.scalars(select(Case))).all()
        assert sorted(c.request_id for c in cases) == sorted([existing, *new])
        for case in cases:  # each new case's history starts a valid chain
            assert (await verify_chain(session, case)).valid
            assert (case.history_seq, case.revision, case.attachments) == (1, 1, [])
        created = await session.scalars(select(CaseEvent).where(CaseEvent.action == "create"))
        assert len(created.all()) == 5
        snapshots = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "case.snapshot")
        )
        assert len(snapshots.all()) == 5  # the existing case's one, and one per new case
