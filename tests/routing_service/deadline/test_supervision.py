"""The supervision ladder: each step once, at the right working-day time, whatever the replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
from sqlalchemy import func, select, update

from routing_service.deadline.supervision import supervision_service
from routing_service.models import Card, CaseEvent, SupervisionEvent, WebhookDelivery
from services.db import AsyncSessionMaker
from shared.calendar import default_calendar
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, local, ok, verify_and_dispatch


async def dispatched_card(
    client: httpx.AsyncClient, sessionmaker: AsyncSessionMaker, org: Org
) -> uuid.UUID:
    case = await verify_and_dispatch(client, org, await arrive(sessionmaker))
    return uuid.UUID(case["cards"][0]["id"])


async def place_card(
    sessionmaker: AsyncSessionMaker, card_id: uuid.UUID, *, dispatched: datetime, signed: bool
) -> Card:
    """Put a card's clock at a known moment: a general card (5 working days) dispatched then."""
    calendar = default_calendar()
    due = calendar.add_working_days(dispatched, 5).due_at
    sign_due = calendar.add_working_hours(dispatched, 2).due_at
    async with sessionmaker() as session:
        await session.execute(
            update(Card).where(Card.id == card_id).values(
                dispatched_at=dispatched, clock_start_at=dispatched, sign_due_at=sign_due, due_at=due,
                original_due_at=due, signed_at=dispatched if signed else None,
                status="signed" if signed else "dispatched", supervision_level="none",
                next_check_at=sign_due if not signed else local("2026-10-09T08:30:00"),
            )
        )  # fmt: skip
        await session.commit()
        card = await session.get(Card, card_id)
        assert card is not None
        return card


async def tick(sessionmaker: AsyncSessionMaker, now: datetime) -> int:
    async with sessionmaker() as session:
        result = await supervision_service.tick(session, now)
        await session.commit()
        return result.steps


async def levels(sessionmaker: AsyncSessionMaker, card_id: uuid.UUID) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(SupervisionEvent.level)
            .where(SupervisionEvent.card_id == card_id)
            .order_by(SupervisionEvent.at)
        )
        return list(rows)


class TestLadder:
    async def test_yellow_red_listed_on_working_days(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        card_id = await dispatched_card(routing_client, routing_sessionmaker, org)
        # Dispatched Monday 2026-09-28: due at the end of Saturday 2026-10-10 (make-up working day).
        card = await place_card(
            routing_sessionmaker, card_id, dispatched=local("2026-09-28T09:00:00"), signed=True
        )
        assert card.due_at == local("2026-10-10T23:59:59")

        assert await tick(routing_sessionmaker, local("2026-10-09T08:00:00")) == 0
        assert (
            await tick(routing_sessionmaker, local("2026-10-09T08:31:00")) == 1
        )  # one working day left
        assert await levels(routing_sessionmaker, card_id) == ["yellow"]
        assert await tick(routing_sessionmaker, local("2026-10-10T20:00:00")) == 0
        assert await tick(routing_sessionmaker, local("2026-10-11T00:00:05")) == 1  # overdue
        # Listed after 5 working days overdue: 10-12 … 10-16, so from the end of Friday 10-16.
        assert await tick(routing_sessionmaker, local("2026-10-16T23:00:00")) == 0
        assert await tick(routing_sessionmaker, local("2026-10-17T00:00:01")) == 1
        assert await levels(routing_sessionmaker, card_id) == ["yellow", "red", "listed"]
        async with routing_sessionmaker() as session:
            listed = await session.get(Card, card_id)
            assert listed is not None
            assert listed.listed is True
            assert listed.supervision_level == "listed"
            assert listed.next_check_at is None
            notices = (
                await session.scalars(select(SupervisionEvent.notice).order_by(SupervisionEvent.at))
            ).all()
            assert notices[1].startswith("【红牌督办】")
            assert notices[2].startswith("【挂牌督办】")
            actions = (
                await session.scalars(select(CaseEvent.action).where(CaseEvent.card_id == card_id))
            ).all()
            assert {"supervise.yellow", "supervise.red", "supervise.listed"} <= set(actions)

    async def test_unsigned_card_gets_sign_reminder_then_the_ladder_in_one_tick(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        card_id = await dispatched_card(routing_client, routing_sessionmaker, org)
        await place_card(
            routing_sessionmaker, card_id, dispatched=local("2026-09-28T09:00:00"), signed=False
        )
        assert await tick(routing_sessionmaker, local("2026-11-02T10:00:00")) == 4
        assert await levels(routing_sessionmaker, card_id) == [
            "sign_overdue",
            "yellow",
            "red",
            "listed",
        ]
        assert await tick(routing_sessionmaker, local("2026-11-30T10:00:00")) == 0

    async def test_nothing_due_reads_nothing(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        await dispatched_card(routing_client, routing_sessionmaker, org)
        async with routing_sessionmaker() as session:
            result = await supervision_service.tick(session, local("2020-01-01T00:00:00"))
        assert (result.cards, result.steps) == (0, 0)

    async def test_two_replicas_take_each_step_once(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        cards = [await dispatched_card(routing_client, routing_sessionmaker, org) for _ in range(6)]
        for card_id in cards:
            await place_card(
                routing_sessionmaker, card_id, dispatched=local("2026-09-28T09:00:00"), signed=True
            )
        now = local("2026-10-20T09:00:00")
        steps = await asyncio.gather(
            tick(routing_sessionmaker, now),
            tick(routing_sessionmaker, now),
            tick(routing_sessionmaker, now),
        )
        assert sum(steps) == 6 * 3
        async with routing_sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(SupervisionEvent)) == 18

    async def test_steps_notify_the_unit_by_webhook(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        await ok(await routing_client.post("/v1/webhooks/subscriptions", headers=org.auth("admin"),
                                           json={"unit_code": "DEPT-JT", "url": "http://127.0.0.1:9/hook", "event_types": ["*"]}), 201)  # fmt: skip
        card_id = await dispatched_card(routing_client, routing_sessionmaker, org)
        await place_card(
            routing_sessionmaker, card_id, dispatched=local("2026-09-28T09:00:00"), signed=True
        )
        await tick(routing_sessionmaker, local("2026-10-11T09:00:00"))
        async with routing_sessionmaker() as session:
            types = sorted((await session.scalars(select(WebhookDelivery.event_type))).all())
        assert types == ["card.dispatched", "card.reminder", "card.supervised"]


async def test_overdue_cards_are_a_gauge_per_unit(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    card_id = await dispatched_card(routing_client, routing_sessionmaker, org)
    await place_card(
        routing_sessionmaker, card_id, dispatched=local("2026-09-28T09:00:00"), signed=True
    )
    await tick(routing_sessionmaker, local("2026-10-12T09:00:00"))
    metrics = (await routing_client.get("/metrics")).text
    assert 'yingshang_cards_overdue{unit="DEPT-JT"} 1.0' in metrics
    assert 'yingshang_outbox_unconfirmed{service="routing"}' in metrics
