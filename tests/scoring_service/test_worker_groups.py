"""The scoring worker applies a group of snapshots with one locked read per fact table: several
revisions of one new case in the same group update the row the first one added."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from sqlalchemy import event, select

from scoring_service.models import CaseFact, InboxEvent
from scoring_service.worker import HANDLERS, PREFETCH
from services.db import AsyncSessionMaker
from services.inbox import EventConsumer
from services.models import utcnow
from shared.enums import CaseStatus, Channel, RequestType, SubmitterKind, Topic, Urgency
from shared.events import CaseSnapshot, EventEnvelope, SubmitterInfo


def snapshot(case_id: uuid.UUID, revision: int) -> dict[str, Any]:
    data = CaseSnapshot(
        case_id=case_id,
        revision=revision,
        request_id=uuid.uuid5(uuid.NAMESPACE_URL, str(case_id)),
        tracking_no=f"YS{case_id.hex[:12].upper()}",
        channel=Channel.app,
        type=RequestType.complaint,
        topic=Topic.transport,
        urgency=Urgency.normal,
        classification=None,
        status=[CaseStatus.pending_verification, CaseStatus.awaiting_dispatch,
                CaseStatus.dispatched][revision - 1],
        area_code=None,
        owner_unit_code="HS",
        submitter=SubmitterInfo(kind=SubmitterKind.person),
        anonymous=False,
        received_at=utcnow(),
    )  # fmt: skip
    envelope = EventEnvelope(
        type=CaseSnapshot.TYPE, source="routing", data=data.model_dump(mode="json")
    )
    return envelope.model_dump(mode="json")


async def test_a_group_reads_its_case_facts_once_and_keeps_the_newest_revision(
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    consumer = EventConsumer(InboxEvent, HANDLERS, prefetch=PREFETCH, name="scoringgroups")
    ctx = {"sessionmaker": scoring_sessionmaker, "job_try": 1}
    cases = [uuid.uuid4() for _ in range(10)]
    for case_id in cases:  # the cases exist: later groups only update them
        assert await consumer(ctx, snapshot(case_id, 1)) == "handled"
    envelopes = [snapshot(case_id, revision) for case_id in cases for revision in (2, 3)]
    random.Random(7).shuffle(envelopes)

    reads: list[str] = []
    engine = scoring_sessionmaker.kw["bind"].sync_engine

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM case_fact" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        outcomes = await asyncio.gather(*(consumer(ctx, e) for e in envelopes))
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert outcomes == ["handled"] * len(envelopes)
    # One locked read per group: fewer reads than cases (read one by one, each case is read
    # at least once; groups of up to 32 take the 20 events in a few transactions).
    assert 1 <= len(reads) < len(cases)
    async with scoring_sessionmaker() as session:
        facts = (await session.scalars(select(CaseFact))).all()
    assert sorted(f.case_id for f in facts) == sorted(cases)
    assert {f.revision for f in facts} == {3}
    assert {f.status for f in facts} == {CaseStatus.dispatched.value}


async def test_revisions_of_a_new_case_in_one_group_update_the_row_the_first_added(
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    from services.inbox import _Delivery

    consumer = EventConsumer(InboxEvent, HANDLERS, prefetch=PREFETCH, name="scoringgroups")
    case_id = uuid.uuid4()
    group = [
        _Delivery(EventEnvelope.model_validate(snapshot(case_id, revision)),
                  HANDLERS[CaseSnapshot.TYPE], scoring_sessionmaker, None)
        for revision in (1, 3, 2)
    ]  # fmt: skip
    # One transaction for the three (a group); before, the second insert failed the group.
    assert await consumer._apply(group) == ["handled"] * 3
    async with scoring_sessionmaker() as session:
        facts = (await session.scalars(select(CaseFact))).all()
    assert [(f.case_id, f.revision) for f in facts] == [(case_id, 3)]
