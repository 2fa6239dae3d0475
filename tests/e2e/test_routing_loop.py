"""A request submitted to intake reaches a department's webhook receiver as a signed card, is
signed, extended, completed and reviewed through the API, and the submitter sees each step —
with real API and worker processes, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from routing_service.models import ApiKey
from services.db import AsyncSessionMaker
from tests.fixtures.clients import make_key
from tests.fixtures.org import Org
from tests.fixtures.processes import ServiceStack
from tests.fixtures.receiver import WebhookReceiver
from tests.intake_service.issue.test_endpoints import submission

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[ServiceStack]:
    running = ServiceStack(
        tmp_path, ("intake", "routing"), {"ROUTING_SUPERVISION_TICK_SECONDS": "5"}
    )
    await asyncio.to_thread(running.start)
    try:
        yield running
    finally:
        await asyncio.to_thread(running.stop)


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise TimeoutError(f"condition not met within {timeout}s (last: {last})")


async def test_request_to_department_and_back_to_the_submitter(
    stack: ServiceStack, org: Org, channel_key: str, routing_sessionmaker: AsyncSessionMaker
) -> None:
    receiver = WebhookReceiver()
    receiver.start()
    jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
    try:
        async with (
            httpx.AsyncClient(base_url=stack.url("intake"), timeout=10) as intake,
            httpx.AsyncClient(base_url=stack.url("routing"), timeout=10) as routing,
        ):
            subscription = (await routing.post("/v1/webhooks/subscriptions", headers={"X-API-Key": jt_key},
                                               json={"url": receiver.url, "event_types": ["*"]})).json()  # fmt: skip
            receipt = (
                await intake.post(
                    "/v1/requests", json=submission(), headers={"X-API-Key": channel_key}
                )
            ).json()
            tracking_no = receipt["tracking_no"]
            owner = {"X-Tracking-Secret": receipt["tracking_secret"]}

            async def case_arrived() -> Any:
                response = await routing.get(
                    f"/v1/cases/by-tracking/{tracking_no}", headers=org.auth("hs_operator")
                )
                return response.json() if response.status_code == 200 else None

            case = await eventually(case_arrived)
            assert case["status"] == "pending_verification"
            assert case["submitter"]["phone"] == "13812345678"
            await routing.post(f"/v1/cases/{case['id']}/verify", headers=org.auth("hs_operator"),
                               json={"decision": "accept", "classification": "general"})  # fmt: skip
            dispatched = (await routing.post(f"/v1/cases/{case['id']}/dispatch", headers=org.auth("hs_dispatcher"),
                                             json={"units": [{"unit_code": "DEPT-JT"}]})).json()  # fmt: skip
            card_id = dispatched["cards"][0]["id"]

            delivery = await receiver.wait_for(lambda body: body["type"] == "card.dispatched")
            Webhook(subscription["secret"]).verify(
                delivery.body, delivery.headers
            )  # raises if unsigned
            assert delivery.json["data"]["tracking_no"] == tracking_no

            unit = {"X-API-Key": jt_key}
            assert (
                await routing.post(f"/v1/cards/{card_id}/sign", headers=unit)
            ).status_code == 200
            extension = (await routing.post(f"/v1/cards/{card_id}/extensions", headers=unit,
                                            json={"days": 2, "reason": "需协调公交公司"})).json()  # fmt: skip
            decided = await routing.post(f"/v1/cards/{card_id}/extensions/{extension['id']}/decide",
                                         headers=org.auth("hs_supervisor"), json={"approve": True})  # fmt: skip
            assert decided.status_code == 200, decided.text
            await receiver.wait_for(lambda body: body["type"] == "card.extension_decided")
            assert (await routing.post(f"/v1/cards/{card_id}/complete", headers=unit,
                                       json={"result": "已新开90路公交,延伸23路"})).status_code == 200  # fmt: skip
            assert (await routing.post(f"/v1/cards/{card_id}/review", headers=org.auth("hs_dispatcher"),
                                       json={"accept": True})).status_code == 200  # fmt: skip

            async def submitter_sees_completion() -> Any:
                view = (await intake.get(f"/v1/requests/{tracking_no}", headers=owner)).json()
                return view if view["status"] == "completed" else None

            view = await eventually(submitter_sees_completion)
            seen = [entry["status"] for entry in view["history"]]
            for status in (
                "received",
                "verifying",
                "dispatched",
                "in_progress",
                "extended",
                "completed",
            ):
                assert status in seen, seen
            assert view["agency_responsible"] == "区交通运输局"
            assert view["expected_at"] is not None
    finally:
        receiver.stop()
