"""Webhook delivery on SQLite, the embedded default (``make run``): the claim falls back to the
locked-read path (SQLite's ``UPDATE … FROM`` cannot return the subscription) and a 2xx is still
recorded in one autocommitted statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routing_service.models import Model, OrgUnit
from routing_service.webhook.tasks import deliver_webhook
from services.db import AsyncSessionMaker
from tests.fixtures.database import sqlite_sessionmaker_for
from tests.routing_service.webhook.helpers import (
    Receiver,
    add_subscription,
    load,
    notify,
    sample,
)


@pytest.fixture
async def sqlite_sessionmaker(tmp_path: Path) -> AsyncIterator[AsyncSessionMaker]:
    async with sqlite_sessionmaker_for(tmp_path, Model.metadata, "routing") as sessionmaker:
        yield sessionmaker


async def test_delivered_then_skipped_on_sqlite(
    sqlite_sessionmaker: AsyncSessionMaker, receiver: Receiver
) -> None:
    async with sqlite_sessionmaker() as session:
        unit = OrgUnit(
            code="DEPT-JT", name="区交通运输局", kind="department", tier=1, path="/DEPT-JT/"
        )
        session.add(unit)
        await session.commit()
    await add_subscription(sqlite_sessionmaker, unit.id, url=receiver.url())
    (delivery_id,) = await notify(
        sqlite_sessionmaker, unit.id, "card.dispatched", sample(title="c-1")
    )
    async with httpx.AsyncClient() as http:
        ctx: dict[str, Any] = {"sessionmaker": sqlite_sessionmaker, "http": http, "job_try": 1}
        assert await deliver_webhook(ctx, str(delivery_id)) == "delivered"
        assert await deliver_webhook(ctx, str(delivery_id)) == "skipped"
    delivery = await load(sqlite_sessionmaker, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert len(receiver.requests) == 1
