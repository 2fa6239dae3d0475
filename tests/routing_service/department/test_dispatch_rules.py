"""The dispatch catalogue (派单目录): CRUD, and ``suggest_units`` ordering."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update

from routing_service.department.dispatch_rules import suggest_units
from routing_service.department.exceptions import UnknownTopic
from routing_service.models import OrgUnit
from services.db import AsyncSessionMaker
from tests.fixtures.org import Org

RULES = "/v1/dispatch-rules"


async def add_rule(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    response = await client.post(RULES, json=body, headers=org.auth("admin"))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def suggested(
    sessionmaker: AsyncSessionMaker, topic: str, area: str | None, limit: int = 3
) -> list[tuple[str, float, str]]:
    async with sessionmaker() as session:
        return [
            (s.unit_code, s.confidence, s.reason)
            for s in await suggest_units(session, topic, area, limit)
        ]


class TestCrud:
    async def test_create_read_update_delete(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        rule = await add_rule(
            routing_client,
            org,
            topic="transport",
            unit_code="DEPT-JT",
            classification="general",
            note="道路",
        )
        assert rule["area_code"] is None
        assert rule["area_path"] == ""
        assert rule["unit_name"] == "区交通运输局"
        assert rule["topic_label"] == "交通"
        assert rule["confidence"] == 0.9

        one = await routing_client.get(f"{RULES}/{rule['id']}", headers=org.auth("hs_dispatcher"))
        assert one.status_code == 200
        assert one.json() == rule

        changed = await routing_client.patch(
            f"{RULES}/{rule['id']}",
            json={"confidence": 0.5, "area_code": "HS-GM", "note": None},
            headers=org.auth("admin"),
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["confidence"] == 0.5
        assert changed.json()["area_code"] == "HS-GM"
        assert changed.json()["area_path"] == "/HS/HS-GM/"
        assert changed.json()["note"] is None
        assert changed.json()["classification"] == "general"

        listed = await routing_client.get(
            RULES, params={"topic": "transport"}, headers=org.auth("hs_dispatcher")
        )
        assert [item["id"] for item in listed.json()] == [rule["id"]]
        by_area = await routing_client.get(
            RULES, params={"area_code": "HS-GM"}, headers=org.auth("admin")
        )
        assert len(by_area.json()) == 1
        by_unit = await routing_client.get(
            RULES, params={"unit_code": "DEPT-GH"}, headers=org.auth("admin")
        )
        assert by_unit.json() == []

        deleted = await routing_client.delete(f"{RULES}/{rule['id']}", headers=org.auth("admin"))
        assert deleted.status_code == 204
        gone = await routing_client.get(f"{RULES}/{rule['id']}", headers=org.auth("admin"))
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "dispatch_rule_not_found"

    async def test_area_rule(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        rule = await add_rule(
            routing_client, org, topic="market_order", area_code="HS", unit_code="@AREA"
        )
        assert rule["unit_code"] == "@AREA"
        assert rule["area_code"] is None  # the district itself means the whole district
        assert rule["note"] is None
        noted = await add_rule(
            routing_client,
            org,
            topic="other",
            area_code="HS-GM",
            unit_code="@AREA",
            note="街道先办",
        )
        assert noted["note"] == "街道先办"
        assert noted["area_code"] == "HS-GM"
        listed = await routing_client.get(
            RULES, params={"unit_code": "@AREA"}, headers=org.auth("admin")
        )
        assert {item["id"] for item in listed.json()} == {rule["id"], noted["id"]}
        switched = await routing_client.patch(
            f"{RULES}/{noted['id']}", json={"unit_code": "DEPT-FG"}, headers=org.auth("admin")
        )
        assert switched.json()["unit_code"] == "DEPT-FG"
        assert switched.json()["note"] == "街道先办"

    async def test_admin_only_writes(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(
            RULES, json={"topic": "land", "unit_code": "DEPT-GH"}, headers=org.auth("hs_dispatcher")
        )
        assert response.status_code == 403
        listed = await routing_client.get(RULES, headers=org.auth("hs_dispatcher"))
        assert listed.status_code == 200

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            ({"topic": "land", "unit_code": "JW"}, 422, "invalid_dispatch_rule"),
            ({"topic": "land", "unit_code": "NOPE"}, 422, "invalid_dispatch_rule"),
            (
                {"topic": "land", "unit_code": "DEPT-GH", "area_code": "DEPT-JT"},
                422,
                "invalid_dispatch_rule",
            ),
            (
                {"topic": "land", "unit_code": "DEPT-GH", "note": "@AREA sneaky"},
                422,
                "invalid_dispatch_rule",
            ),
            ({"topic": "land", "unit_code": "DEPT-GH", "confidence": 1.5}, 422, "validation_error"),
            ({"topic": "space", "unit_code": "DEPT-GH"}, 422, "validation_error"),
            ({"topic": "land", "unit_code": "@ELSEWHERE"}, 422, "validation_error"),
        ],
    )
    async def test_invalid(
        self,
        routing_client: httpx.AsyncClient,
        org: Org,
        body: dict[str, Any],
        status: int,
        code: str,
    ) -> None:
        response = await routing_client.post(RULES, json=body, headers=org.auth("admin"))
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code

    async def test_duplicates(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        first = await add_rule(routing_client, org, topic="land", unit_code="DEPT-GH")
        again = await routing_client.post(
            RULES,
            json={"topic": "land", "unit_code": "DEPT-GH", "area_code": "HS"},
            headers=org.auth("admin"),
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "dispatch_rule_exists"
        # The district-wide @AREA rule is owned by the district root but is not the same rule.
        await add_rule(routing_client, org, topic="land", unit_code="HS")
        await add_rule(routing_client, org, topic="land", unit_code="@AREA")
        second = await add_rule(routing_client, org, topic="water", unit_code="DEPT-GH")
        clash = await routing_client.patch(
            f"{RULES}/{second['id']}", json={"topic": "land"}, headers=org.auth("admin")
        )
        assert clash.status_code == 409
        same = await routing_client.patch(
            f"{RULES}/{first['id']}",
            json={"topic": "land", "confidence": 0.8},
            headers=org.auth("admin"),
        )
        assert same.status_code == 200

    async def test_deactivating_a_target_unit(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        rule = await add_rule(routing_client, org, topic="legal", unit_code="DEPT-KG")
        blocked = await routing_client.patch(
            "/v1/org/units/DEPT-KG", json={"active": False}, headers=org.auth("admin")
        )
        assert blocked.status_code == 409
        assert blocked.json()["error"]["details"]["active_dispatch_rules"] == 1
        await routing_client.patch(
            f"{RULES}/{rule['id']}", json={"active": False}, headers=org.auth("admin")
        )
        allowed = await routing_client.patch(
            "/v1/org/units/DEPT-KG", json={"active": False}, headers=org.auth("admin")
        )
        assert allowed.status_code == 200


class TestSuggestUnits:
    async def test_area_specific_beats_district_wide(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        await add_rule(routing_client, org, topic="transport", unit_code="DEPT-JT", confidence=0.95)
        await add_rule(routing_client, org, topic="transport", unit_code="DEPT-FG", confidence=0.4)
        await add_rule(
            routing_client,
            org,
            topic="transport",
            area_code="HS-YQ",
            unit_code="DEPT-GD",
            confidence=0.6,
        )
        in_park = await suggested(routing_sessionmaker, "transport", "HS-YQ")
        assert [(code, confidence) for code, confidence, _ in in_park] == [
            ("DEPT-GD", 0.6),
            ("DEPT-JT", 0.95),
            ("DEPT-FG", 0.4),
        ]
        assert in_park[0][2] == "派单目录:交通 → 邯山供电公司(邯山经济开发区(园区)营商环境优化中心)"
        assert in_park[1][2] == "派单目录:交通 → 区交通运输局(全区)"
        elsewhere = await suggested(routing_sessionmaker, "transport", "HS-GM-C1")
        assert [code for code, _, _ in elsewhere] == ["DEPT-JT", "DEPT-FG"]
        nowhere = await suggested(routing_sessionmaker, "transport", None, limit=1)
        assert [code for code, _, _ in nowhere] == ["DEPT-JT"]

    async def test_deeper_area_wins(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        await add_rule(
            routing_client,
            org,
            topic="water",
            area_code="HS-GM",
            unit_code="DEPT-FG",
            confidence=0.9,
        )
        await add_rule(
            routing_client,
            org,
            topic="water",
            area_code="HS-GM-C1",
            unit_code="DEPT-GH",
            confidence=0.5,
        )
        result = await suggested(routing_sessionmaker, "water", "hs-gm-c1")
        assert [code for code, _, _ in result] == ["DEPT-GH", "DEPT-FG"]

    async def test_area_direct(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        await add_rule(routing_client, org, topic="market_order", unit_code="@AREA", confidence=0.7)
        await add_rule(
            routing_client, org, topic="market_order", unit_code="DEPT-FG", confidence=0.6
        )
        community = await suggested(routing_sessionmaker, "market_order", "HS-GM-C1")
        assert community[0] == ("HS-GM", 0.7, "属地街道直派:光明路街道营商环境优化中心")
        assert community[1][0] == "DEPT-FG"
        park = await suggested(routing_sessionmaker, "market_order", "HS-YQ")
        assert park[0][0] == "HS-YQ"
        # Without a street the @AREA rule does not apply.
        district = await suggested(routing_sessionmaker, "market_order", "HS")
        assert [code for code, _, _ in district] == ["DEPT-FG"]
        unknown_area = await suggested(routing_sessionmaker, "market_order", "NOWHERE")
        assert [code for code, _, _ in unknown_area] == ["DEPT-FG"]

    async def test_inactive_units_and_rules_are_skipped(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        await add_rule(routing_client, org, topic="land", unit_code="DEPT-GH", confidence=0.9)
        off = await add_rule(
            routing_client, org, topic="land", unit_code="DEPT-FG", confidence=0.8, active=False
        )
        await add_rule(routing_client, org, topic="land", unit_code="DEPT-KG", confidence=0.7)
        assert [code for code, _, _ in await suggested(routing_sessionmaker, "land", None)] == [
            "DEPT-GH",
            "DEPT-KG",
        ]
        # The API refuses to deactivate a unit that rules point at; a unit switched off in the
        # database directly is still never suggested.
        async with routing_sessionmaker() as session:
            await session.execute(
                update(OrgUnit).where(OrgUnit.code == "DEPT-KG").values(active=False)
            )
            await session.commit()
        await routing_client.patch(
            f"{RULES}/{off['id']}", json={"active": True}, headers=org.auth("admin")
        )
        assert [code for code, _, _ in await suggested(routing_sessionmaker, "land", None)] == [
            "DEPT-GH",
            "DEPT-FG",
        ]

    async def test_rule_for_an_inactive_unit_stays_off(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        rule = await add_rule(routing_client, org, topic="land", unit_code="DEPT-KG", active=False)
        await routing_client.patch(
            "/v1/org/units/DEPT-KG", json={"active": False}, headers=org.auth("admin")
        )
        response = await routing_client.patch(
            f"{RULES}/{rule['id']}", json={"active": True}, headers=org.auth("admin")
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "unit_inactive"
        create = await routing_client.post(
            RULES, json={"topic": "water", "unit_code": "DEPT-KG"}, headers=org.auth("admin")
        )
        assert create.status_code == 409

    async def test_fallback(self, org: Org, routing_sessionmaker: AsyncSessionMaker) -> None:
        street = await suggested(routing_sessionmaker, "permit", "HS-GM-C1")
        assert street == [
            ("HS-GM", 0.3, "派单目录未覆盖「审批手续」,属地街道直派:光明路街道营商环境优化中心")
        ]
        district = await suggested(routing_sessionmaker, "permit", None)
        assert district == [
            ("HS", 0.2, "派单目录未覆盖「审批手续」,由邯山区营商环境优化中心自行办理")
        ]

    async def test_unknown_topic(self, org: Org, routing_sessionmaker: AsyncSessionMaker) -> None:
        with pytest.raises(UnknownTopic):
            await suggested(routing_sessionmaker, "space", None)
        assert await suggested(routing_sessionmaker, "land", None, limit=0) == []

    async def test_endpoint(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        await add_rule(routing_client, org, topic="environment", unit_code="@AREA", confidence=0.6)
        response = await routing_client.get(
            f"{RULES}/suggest",
            params={"topic": "environment", "area_code": "HS-GM-C1"},
            headers=org.auth("hs_dispatcher"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["area_code"] == "HS-GM-C1"
        assert body["area_name"] == "光明路街道新兴社区营商环境优化中心"
        assert body["suggestions"][0]["unit_code"] == "HS-GM"
        assert body["suggestions"][0]["reason"].startswith("属地街道直派")
        bad = await routing_client.get(
            f"{RULES}/suggest", params={"topic": "space"}, headers=org.auth("hs_dispatcher")
        )
        assert bad.status_code == 422
        anonymous = await routing_client.get(f"{RULES}/suggest", params={"topic": "land"})
        assert anonymous.status_code == 401

    async def test_importable_from_the_service_module(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        from routing_service.department.service import suggest_units as from_service

        await add_rule(routing_client, org, topic="electricity", unit_code="DEPT-GD")
        async with routing_sessionmaker() as session:
            (suggestion,) = await from_service(session, "electricity", "HS-GM")
        assert suggestion.unit_code == "DEPT-GD"
        assert suggestion.reason == "派单目录:用电 → 邯山供电公司(全区)"
