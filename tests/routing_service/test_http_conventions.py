"""Issue 16's conventions on the routing API: one cursor style for every list, ``Location`` on
every create, and an OpenAPI document where each operation has a description, one tag and a
typed answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from routing_service.app import app
from services.db import AsyncSessionMaker
from shared.calendar import SHANGHAI
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, ok, verify_and_dispatch
from tests.routing_service.deadline.test_supervision import place_card, tick


async def walk(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], limit: int, **params: Any
) -> list[dict[str, Any]]:
    """Every page of a list, following ``next_cursor`` to the end."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < 50:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["limit"] == limit
        assert page["total"] is None
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


async def check_paging(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    key: str,
    expected: int,
    **params: Any,
) -> list[Any]:
    """Pages of 1 and 2 give the one full list in order, the last page ends the walk, the total
    is counted only when asked, and a tampered cursor is refused."""
    everything = await ok(await client.get(path, params={**params, "limit": 100}, headers=headers))
    keys = [item[key] for item in everything["items"]]
    assert len(keys) == expected
    assert everything["next_cursor"] is None
    for limit in (1, 2):
        pages = await walk(client, path, headers, limit, **params)
        assert [item[key] for page in pages for item in page["items"]] == keys
        assert all(len(page["items"]) == limit for page in pages[:-1])
        assert len(pages) == -(-expected // limit)
    counted = await ok(
        await client.get(path, params={**params, "limit": 1, "with_total": "true"}, headers=headers)
    )
    assert counted["total"] == expected
    body, signature = counted["next_cursor"].split(".")
    forged = ("A" if body[0] != "A" else "B") + body[1:] + "." + signature
    for bad in (forged, "garbage"):
        refused = await client.get(
            path, params={**params, "limit": 1, "cursor": bad}, headers=headers
        )
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "invalid_cursor"
    stale = await client.get(path, params={**params, "offset": 1}, headers=headers)
    assert stale.status_code == 422  # offsets are gone: refused, never silently ignored
    return keys


class TestCursorLists:
    async def test_audit_verify(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        ids = [str(await arrive(routing_sessionmaker)) for _ in range(3)]
        keys = await check_paging(routing_client, "/v1/audit/verify", org.auth("auditor"),
                                  "case_id", 3, only_broken="false")  # fmt: skip
        assert sorted(keys) == sorted(ids)
        # Only broken chains by default: the pages still walk every case, answering none here.
        pages = await walk(routing_client, "/v1/audit/verify", org.auth("auditor"), 1)
        assert len(pages) == 3
        assert all(page["items"] == [] for page in pages)

    async def test_transfers(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        tracking = []
        for _ in range(3):
            case_id = await arrive(routing_sessionmaker, type="report", confidential=True)
            transfer = await ok(await routing_client.post(
                f"/v1/cases/{case_id}/transfer", headers=org.auth("hs_supervisor"),
                json={"reason": "反映工作人员索要好处费", "subject_unit_code": "DEPT-KG"},
            ), 201)  # fmt: skip
            tracking.append(transfer["tracking_no"])
        keys = await check_paging(
            routing_client, "/v1/transfers", org.auth("jw_officer"), "tracking_no", 3
        )
        assert keys == tracking[::-1]  # newest first

    async def test_supervision_events_and_overdue(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        cards = []
        for _ in range(3):
            case = await verify_and_dispatch(
                routing_client, org, await arrive(routing_sessionmaker)
            )
            card_id = uuid.UUID(case["cards"][0]["id"])
            await place_card(routing_sessionmaker, card_id, signed=True,
                             dispatched=datetime(2026, 9, 28, 9, 0, tzinfo=SHANGHAI))  # fmt: skip
            cards.append(str(card_id))
        # Overdue then: the yellow card, the red card, each once per card.
        await tick(routing_sessionmaker, datetime(2026, 10, 9, 9, 0, tzinfo=SHANGHAI))
        await tick(routing_sessionmaker, datetime(2026, 10, 11, 9, 0, tzinfo=SHANGHAI))
        leader = org.auth("hs_leader")
        events = await check_paging(routing_client, "/v1/supervision/events", leader, "id", 6)
        assert len(set(events)) == 6
        red = await check_paging(
            routing_client, "/v1/supervision/events", leader, "card_id", 3, level="red"
        )
        assert sorted(red) == sorted(cards)
        overdue = await check_paging(
            routing_client, "/v1/supervision/overdue", leader, "card_id", 3
        )
        assert sorted(overdue) == sorted(cards)
        # A street center sees its own subtree only: none of the department's cards.
        street = org.auth("gm_operator")
        for path in ("/v1/supervision/events", "/v1/supervision/overdue"):
            page = await ok(await routing_client.get(path, headers=street))
            assert page["items"] == []


class TestLocation:
    async def test_org_unit(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        created = await routing_client.post("/v1/org/units", headers=org.auth("admin"), json={
            "code": "HS-XJ", "name": "新街街道", "kind": "street_center", "parent_code": "HS"})  # fmt: skip
        assert created.status_code == 201, created.text
        assert created.headers["location"] == "/v1/org/units/HS-XJ"
        shown = await ok(
            await routing_client.get(created.headers["location"], headers=org.auth("admin"))
        )
        assert shown == created.json()

    async def test_api_key(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        created = await routing_client.post(
            "/v1/org/units/DEPT-JT/api-keys", headers=org.auth("admin"), json={"name": "业务系统"}
        )
        assert created.status_code == 201, created.text
        # A key has no route of its own: the unit's key list shows it, without the secret.
        assert created.headers["location"] == "/v1/org/units/DEPT-JT/api-keys"
        listed = await ok(
            await routing_client.get(created.headers["location"], headers=org.auth("admin"))
        )
        assert created.json()["id"] in {key["id"] for key in listed}

    async def test_dispatch_rule(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        created = await routing_client.post(
            "/v1/dispatch-rules", headers=org.auth("admin"),
            json={"topic": "land", "unit_code": "DEPT-GH"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"/v1/dispatch-rules/{created.json()['id']}"
        shown = await ok(
            await routing_client.get(created.headers["location"], headers=org.auth("admin"))
        )
        assert shown == created.json()

    async def test_extension_request_fresh_and_replayed(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case = await verify_and_dispatch(routing_client, org, await arrive(routing_sessionmaker))
        card_id = case["cards"][0]["id"]
        unit = org.auth("jt_liaison")
        await ok(await routing_client.post(f"/v1/cards/{card_id}/sign", headers=unit))
        headers = {**unit, "Idempotency-Key": "extension-1"}
        body = {"days": 3, "reason": "需与市公交总公司协商线路调整"}
        first = await routing_client.post(
            f"/v1/cards/{card_id}/extensions", headers=headers, json=body
        )
        assert first.status_code == 201, first.text
        assert set(first.json()) == {"id", "days", "status", "reason"}
        # An extension request has no route of its own: the case's history records it.
        assert first.headers["location"] == f"/v1/cases/{case['id']}/history"
        replay = await routing_client.post(
            f"/v1/cards/{card_id}/extensions", headers=headers, json=body
        )
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["location"] == first.headers["location"]
        assert replay.json() == first.json()
        history = await ok(await routing_client.get(first.headers["location"], headers=unit))
        requests = [e for e in history if e["action"] == "extension.request"]
        assert [e["data"]["extension_id"] for e in requests] == [first.json()["id"]]


# Every operation's tag, description and typed answer: tests/contract/test_openapi.py.


@pytest.mark.parametrize(
    "path", ["/v1/org/staff", "/v1/transfers", "/v1/audit/verify", "/v1/supervision/events",
             "/v1/supervision/overdue", "/v1/cases", "/v1/cards"],
)  # fmt: skip
def test_lists_take_the_cursor_parameters(path: str) -> None:
    operation = app.openapi()["paths"][path]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"limit", "cursor", "with_total"} <= names
    assert "offset" not in names
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].split("/")[-1].startswith("CursorPage_")
