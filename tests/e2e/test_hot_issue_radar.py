"""The radar through the real APIs and workers (issue 19, "Done when"): requests from different
enterprises about one park's buses, submitted to intake, form one hot cluster in routing; a
proactive case handles it once; every submitter sees the result in intake and can rate it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.test_routing_loop import eventually
from tests.fixtures.org import Org
from tests.fixtures.processes import ServiceStack
from tests.routing_service.assignment.helpers import ok
from tests.routing_service.radar.test_radar import BUS

pytestmark = pytest.mark.slow


async def test_a_hot_cluster_handled_once_answers_every_submitter(
    full_stack: ServiceStack, org: Org, channel_key: str
) -> None:
    async with (
        httpx.AsyncClient(base_url=full_stack.url("routing"), timeout=15) as routing,
        httpx.AsyncClient(base_url=full_stack.url("intake"), timeout=15) as intake,
    ):
        receipts = []
        for n, (title, text) in enumerate(BUS[:6]):
            body = {"channel": "app", "type": "suggestion", "topic": "transport", "title": title,
                    "description": text, "location": {"area_code": "HS-GM-C1"},
                    "submitter": {"kind": "person", "name": f"员工{n}", "phone": f"1391234{n:04d}"}}  # fmt: skip
            receipts.append(await ok(await intake.post("/v1/requests", json=body,
                                                       headers={"X-API-Key": channel_key}), 201))  # fmt: skip

        async def hot() -> Any:
            page = await ok(await routing.get("/v1/hot-issues", headers=org.auth("gm_operator"),
                                              params={"state": "hot"}))  # fmt: skip
            # Hot once the threshold's submitters are in; the sixth may still be on its way.
            found = page["items"][0] if page["items"] else None
            return found if found is not None and found["requests"] == 6 else None

        cluster = await eventually(hot, timeout=30)
        assert (cluster["requests"], cluster["submitters"]) == (6, 6)

        opened = await ok(await routing.post(f"/v1/hot-issues/{cluster['id']}/proactive-case",
                                             headers=org.auth("hs_dispatcher"),
                                             json={"note": "协调公交公司加密园区线路"}), 201)  # fmt: skip
        case_id = opened["proactive_case_id"]
        dispatched = await ok(await routing.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                                 json={"units": [{"unit_code": "DEPT-JT"}]}))  # fmt: skip
        card = dispatched["cards"][0]["id"]
        await ok(await routing.post(f"/v1/cards/{card}/sign", headers=org.auth("jt_liaison")))
        await ok(await routing.post(f"/v1/cards/{card}/complete", headers=org.auth("jt_liaison"),
                                    json={"result": "已新开园区专线,早晚高峰10分钟一班"}))  # fmt: skip
        await ok(await routing.post(f"/v1/cards/{card}/review", headers=org.auth("hs_dispatcher"),
                                    json={"accept": True}))  # fmt: skip

        for receipt in receipts:
            owner = {"X-Tracking-Secret": receipt["tracking_secret"]}
            url = f"/v1/requests/{receipt['tracking_no']}"

            async def completed(url: str = url, owner: dict[str, str] = owner) -> Any:
                view = (await intake.get(url, headers=owner)).json()
                return view if view["status"] == "completed" else None

            view = await eventually(completed, timeout=30)
            assert view["status_note"] == "已新开园区专线,早晚高峰10分钟一班"

            async def rated(url: str = url, owner: dict[str, str] = owner) -> Any:
                answer = await intake.post(f"{url}/rating", headers=owner,
                                           json={"satisfaction": "satisfied", "resolved": True})  # fmt: skip
                return answer.status_code == 201

            await eventually(rated, timeout=30)
        detail = await ok(
            await routing.get(f"/v1/hot-issues/{cluster['id']}", headers=org.auth("gm_operator"))
        )
        assert detail["state"] == "resolved"
