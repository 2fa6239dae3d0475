"""Queues (工作台): every queue's count equals the length of the list it links to."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import update

from routing_service.models import Card
from services.db import AsyncSessionMaker
from services.models import utcnow
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, ok, verify_and_dispatch


async def _set(sessionmaker: AsyncSessionMaker, card_id: str, **values: Any) -> None:
    async with sessionmaker() as session:
        await session.execute(update(Card).where(Card.id == uuid.UUID(card_id)).values(**values))
        await session.commit()


async def _list_length(client: httpx.AsyncClient, link: str, headers: dict[str, str]) -> int:
    parts = urlsplit(link)
    params: dict[str, Any] = {
        k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()
    }
    count, cursor = 0, None
    while True:
        page = await ok(await client.get(parts.path, headers=headers,
                                         params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})}))  # fmt: skip
        count += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return count


async def seed(client: httpx.AsyncClient, sessionmaker: AsyncSessionMaker, org: Org) -> None:
    jt = org.auth("jt_liaison")
    await arrive(sessionmaker)  # awaiting verification
    waiting = await arrive(sessionmaker)
    await ok(await client.post(f"/v1/cases/{waiting}/verify", headers=org.auth("hs_operator"),
                               json={"decision": "accept", "classification": "general"}))  # fmt: skip
    cards = [
        (await verify_and_dispatch(client, org, await arrive(sessionmaker)))["cards"][0]["id"]
        for _ in range(7)
    ]
    returned, extended, submitted, late, soon, listed, escalated = cards
    await ok(
        await client.post(
            f"/v1/cards/{returned}/return", headers=jt, json={"reason": "不属于本单位职责范围"}
        )
    )
    await ok(await client.post(f"/v1/cards/{extended}/sign", headers=jt))
    await ok(await client.post(f"/v1/cards/{extended}/extensions", headers=jt,
                               json={"days": 2, "reason": "需要现场勘察后答复"}), 201)  # fmt: skip
    await ok(await client.post(f"/v1/cards/{submitted}/sign", headers=jt))
    await ok(
        await client.post(
            f"/v1/cards/{submitted}/complete", headers=jt, json={"result": "已增加公交班次"}
        )
    )
    now = utcnow()
    await _set(sessionmaker, late, due_at=now - timedelta(hours=3), supervision_level="red")
    await _set(sessionmaker, soon, due_at=now + timedelta(hours=2))
    await _set(
        sessionmaker,
        listed,
        due_at=now - timedelta(days=3),
        supervision_level="listed",
        listed=True,
    )
    await _set(
        sessionmaker, escalated, due_at=now - timedelta(days=6), supervision_level="escalated"
    )


async def test_center_queue_counts_equal_their_lists(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    await seed(routing_client, routing_sessionmaker, org)
    headers = org.auth("hs_supervisor")
    body = await ok(await routing_client.get("/v1/queues", headers=headers))
    assert body["scope"] == "district"
    counts = {q["name"]: q["count"] for q in body["queues"]}
    # The returned card's case waits for a new dispatch too.
    assert counts == {
        "awaiting_verification": 1, "awaiting_dispatch": 2, "returned": 1,
        "extension_requests": 1, "awaiting_review": 1, "due_soon": 1, "overdue": 3,
        "listed": 1, "escalated": 1,
    }  # fmt: skip
    for queue in body["queues"]:
        assert queue["label"], queue
        assert await _list_length(routing_client, queue["list"], headers) == queue["count"], queue
    verification = next(q for q in body["queues"] if q["name"] == "awaiting_verification")
    assert verification["oldest_due_at"] is not None


async def test_department_and_street_queues(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    await seed(routing_client, routing_sessionmaker, org)
    jt = org.auth("jt_liaison")
    body = await ok(await routing_client.get("/v1/queues", headers=jt))
    assert (body["scope"], body["unit_code"]) == ("department", "DEPT-JT")
    counts = {q["name"]: q["count"] for q in body["queues"]}
    assert counts == {"new": 4, "in_progress": 1, "due_soon": 1, "overdue": 3, "sent_back": 0}
    for queue in body["queues"]:
        assert await _list_length(routing_client, queue["list"], jt) == queue["count"], queue
    # Another department and a street center see none of the district's work.
    for other in ("gh_liaison", "gm_operator"):
        queues = (await ok(await routing_client.get("/v1/queues", headers=org.auth(other))))[
            "queues"
        ]
        assert {q["count"] for q in queues} == {0}, other
    assert (await routing_client.get("/v1/queues")).status_code == 401
