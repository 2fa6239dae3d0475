"""A dispatch reads the units it sends cards to and their active subscriptions in one
statement, and notifies exactly the matching active subscriptions of each; telling the
submitter reads the subscriptions of the request's channel once, by the channel's index."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine

from routing_service.models import OrgUnit, WebhookDelivery
from services.db import AsyncSessionMaker
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, ok
from tests.routing_service.webhook.helpers import add_subscription


async def test_a_multi_unit_dispatch_reads_units_and_subscriptions_at_once(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    jt, gh = org.units["DEPT-JT"].id, org.units["DEPT-GH"].id
    jt_exact = (await add_subscription(routing_sessionmaker, jt, ["card.dispatched"])).id
    jt_any = (await add_subscription(routing_sessionmaker, jt, ["*"])).id
    await add_subscription(routing_sessionmaker, jt, ["card.redo"])  # another event type
    await add_subscription(routing_sessionmaker, jt, ["*"], active=False)
    async with routing_sessionmaker() as session:
        await session.execute(update(OrgUnit).where(OrgUnit.code == "DEPT-KG").values(active=False))
        await session.commit()

    case_id = await arrive(routing_sessionmaker)
    await ok(await routing_client.post(f"/v1/cases/{case_id}/verify", headers=org.auth("hs_operator"),
                                       json={"decision": "accept", "classification": "multi"}))  # fmt: skip
    url = f"/v1/cases/{case_id}/dispatch"
    inactive = await routing_client.post(url, headers=org.auth("hs_dispatcher"),
                                         json={"units": [{"unit_code": "DEPT-JT", "role": "lead"},
                                                         {"unit_code": "DEPT-KG", "role": "co"}]})  # fmt: skip
    assert inactive.status_code == 422
    assert inactive.json()["error"]["code"] == "unit_not_found"

    reads: list[str] = []
    engine = Engine  # every engine: the API under test has its own

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and (
            "FROM org_unit" in statement or "FROM webhook_subscription" in statement
        ):
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        case = await ok(await routing_client.post(url, headers=org.auth("hs_dispatcher"),
                                                  json={"units": [{"unit_code": "DEPT-JT", "role": "lead"},
                                                                  {"unit_code": "DEPT-GH", "role": "co"}]}))  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sorted(c["unit_code"] for c in case["cards"]) == ["DEPT-GH", "DEPT-JT"]
    channel_reads = [r for r in reads if "webhook_subscription.channel =" in r]
    unit_reads = [r for r in reads if r not in channel_reads]
    assert len(unit_reads) == 1, reads  # the owner unit came with the case; the rest in one read
    assert len(channel_reads) == 1, reads  # the request's channel: 原渠道反馈

    async with routing_sessionmaker() as session:
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert sorted(d.subscription_id for d in deliveries) == sorted([jt_exact, jt_any])
    assert gh not in {d.subscription_id for d in deliveries}
