"""The supervision tick writes its rows in batches (history.record_many, outbox.batched,
webhook_service.notify_units): the same rows and jobs as the one-at-a-time paths."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from routing_service.assignment import history
from routing_service.assignment.repository import CaseRepository
from routing_service.models import Card, CaseEvent, OutboxEvent, WebhookDelivery
from routing_service.webhook.service import DELIVER_JOB
from services.db import AFTER_COMMIT_JOBS, AsyncSessionMaker
from services.outbox import PENDING_KEY
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import local, ok
from tests.routing_service.deadline.test_supervision import dispatched_card, place_card

_EVENT_COLUMNS = ("seq", "card_id", "actor", "action", "from_status", "to_status", "reason",
                  "data", "at", "prev_hash", "hash", "hash_alg")  # fmt: skip


def _columns(event: CaseEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _EVENT_COLUMNS}


async def test_record_many_writes_the_chain_record_writes(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    card_id = await dispatched_card(routing_client, routing_sessionmaker, org)
    at = local("2026-10-12T09:00:00")
    args: list[dict[str, Any]] = [
        {"actor": "system:test", "action": "supervise.red", "card_id": card_id, "reason": "r1",
         "data": {"level": "red"}, "at": at},
        {"actor": "system:test", "action": "case.note", "from_status": "a", "to_status": "b",
         "at": at},
    ]  # fmt: skip
    async with routing_sessionmaker() as session:
        card = await session.get(Card, card_id)
        assert card is not None
        case_id = card.case_id
        case = (await CaseRepository.from_session(session).lock_many([case_id]))[case_id]
        one_by_one = [_columns(history.record(session, case, **a)) for a in args]
        await session.rollback()
    async with routing_sessionmaker() as session:
        case = (await CaseRepository.from_session(session).lock_many([case_id]))[case_id]
        await history.record_many(session, [history.NewEvent(case, **a) for a in args])
        await session.commit()
        rows = (
            await session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
            )
        ).all()
        assert [_columns(row) for row in rows[-2:]] == one_by_one
        assert (case.history_head, case.history_seq) == (rows[-1].hash, rows[-1].seq)
        assert (await history.verify_chain(session, case)).valid


async def test_a_tick_batch_writes_every_row_and_job_per_card(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    await ok(await routing_client.post("/v1/webhooks/subscriptions", headers=org.auth("admin"),
                                       json={"unit_code": "DEPT-JT", "url": "http://127.0.0.1:9/hook",
                                             "event_types": ["*"]}), 201)  # fmt: skip
    cards = [await dispatched_card(routing_client, routing_sessionmaker, org) for _ in range(3)]
    for card_id in cards:
        await place_card(
            routing_sessionmaker, card_id, dispatched=local("2026-09-28T09:00:00"), signed=True
        )
    from routing_service.deadline.supervision import supervision_service

    async with routing_sessionmaker() as session:
        started = await session.scalar(select(OutboxEvent.id).order_by(OutboxEvent.id.desc()))
        result = await supervision_service.tick(session, local("2026-10-12T09:00:00"))
        event_jobs = list(session.info.get(PENDING_KEY, []))
        delivery_jobs = list(session.info.get(AFTER_COMMIT_JOBS, []))
        await session.commit()
    assert (result.cards, result.steps) == (3, 6)  # yellow and red for each card
    async with routing_sessionmaker() as session:
        deliveries = (
            await session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.event_type.in_(["card.reminder", "card.supervised"])
                )
            )
        ).all()
        by_card: dict[uuid.UUID, list[str]] = {}
        for delivery in deliveries:
            assert delivery.status == "pending"
            assert delivery.attempts == 0
            by_card.setdefault(uuid.UUID(delivery.payload["data"]["card_id"]), []).append(
                delivery.payload["data"]["level"]
            )
        assert {card: sorted(levels) for card, levels in by_card.items()} == {
            card: ["red", "yellow"] for card in cards
        }
        assert sorted(str(job.args[0]) for job in delivery_jobs if job.function == DELIVER_JOB) == (
            sorted(str(d.id) for d in deliveries)
        )
        outbox = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.id > (started or 0)))
        ).all()
        snapshots = [row for row in outbox if row.event_type == "card.snapshot"]
        assert sorted(row.envelope["data"]["card_id"] for row in snapshots) == sorted(
            str(card) for card in cards
        )
        assert {row.envelope["data"]["supervision_level"] for row in snapshots} == {"red"}
        # Every outbox row of the tick has its after-commit job, with the row's envelope.
        assert sorted((job.queue, job.args[0]["id"]) for job in event_jobs) == sorted(
            (row.queue, str(row.event_id)) for row in outbox
        )
        for card_id in cards:
            card = await session.get(Card, card_id)
            assert card is not None
            assert card.supervision_level == "red"
            case = await CaseRepository.from_session(session).get(card.case_id)
            assert case is not None
            assert (await history.verify_chain(session, case)).valid
            actions = (
                await session.scalars(select(CaseEvent.action).where(CaseEvent.card_id == card_id))
            ).all()
            assert [a for a in actions if a.startswith("supervise.")] == [
                "supervise.yellow",
                "supervise.red",
            ]
