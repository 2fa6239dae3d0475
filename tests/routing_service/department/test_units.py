"""Org units: scoped reads, tier rules on creation, moves that rewrite the subtree's paths,
deactivation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from routing_service.models import DispatchRule, OrgUnit
from services.db import AsyncSessionMaker
from tests.fixtures.org import Org

UNITS = "/v1/org/units"


async def create(
    client: httpx.AsyncClient, org: Org, body: dict[str, Any], user: str = "admin"
) -> httpx.Response:
    return await client.post(UNITS, json=body, headers=org.auth(user))


def codes(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {unit["code"] for unit in response.json()}


class TestListUnits:
    async def test_admin_sees_everything(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.get(UNITS, headers=org.auth("admin"))
        assert codes(response) == set(org.units)
        first = response.json()[0]
        assert first["code"] == "HS"
        assert first["parent_code"] is None
        assert first["kind_label"] == "区营商环境优化中心"

    async def test_street_center_sees_its_subtree(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.get(UNITS, headers=org.auth("gm_operator"))
        assert codes(response) == {"HS-GM", "HS-GM-C1"}
        hidden = await routing_client.get(f"{UNITS}/DEPT-JT", headers=org.auth("gm_operator"))
        assert hidden.status_code == 404

    async def test_department_sees_itself_and_the_district(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.get(UNITS, headers=org.auth("jt_liaison"))
        assert codes(response) == {"HS", "DEPT-JT"}

    async def test_tree_and_kind_filter(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        tree = await routing_client.get(UNITS, params={"view": "tree"}, headers=org.auth("admin"))
        assert tree.status_code == 200
        (root,) = tree.json()
        assert root["code"] == "HS"
        gm = next(child for child in root["children"] if child["code"] == "HS-GM")
        assert [child["code"] for child in gm["children"]] == ["HS-GM-C1"]
        streets = await routing_client.get(
            UNITS, params={"kind": "street_center"}, headers=org.auth("admin")
        )
        assert codes(streets) == {"HS-GM", "HS-YQ"}
        bad = await routing_client.get(UNITS, params={"kind": "planet"}, headers=org.auth("admin"))
        assert bad.status_code == 422

    async def test_get_one(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.get(f"{UNITS}/HS-GM-C1", headers=org.auth("gm_operator"))
        assert response.status_code == 200
        assert response.json()["parent_code"] == "HS-GM"
        assert response.json()["tier"] == 3
        missing = await routing_client.get(f"{UNITS}/NOPE", headers=org.auth("admin"))
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "unit_not_found"


class TestCreateUnit:
    async def test_admin_only(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        body = {
            "code": "HS-LX",
            "name": "陵西街道营商环境优化中心",
            "kind": "street_center",
            "parent_code": "HS",
        }
        forbidden = await create(routing_client, org, body, user="hs_dispatcher")
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "forbidden"
        anonymous = await routing_client.post(UNITS, json=body)
        assert anonymous.status_code == 401

    async def test_street_and_community(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        street = await create(
            routing_client,
            org,
            {
                "code": "HS-LX",
                "name": "陵西街道营商环境优化中心",
                "kind": "street_center",
                "parent_code": "HS",
            },
        )
        assert street.status_code == 201, street.text
        assert street.json()["path"] == "/HS/HS-LX/"
        assert street.json()["tier"] == 2
        community = await create(
            routing_client,
            org,
            {
                "code": "HS-LX-C1",
                "name": "陵西社区",
                "kind": "community_center",
                "parent_code": "HS-LX",
                "phone": "0310 3112345",
            },
        )
        assert community.status_code == 201, community.text
        assert community.json()["path"] == "/HS/HS-LX/HS-LX-C1/"
        assert community.json()["phone"] == "0310-3112345"

    async def test_department_defaults_under_the_district(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await create(
            routing_client,
            org,
            {"code": "DEPT-SJ", "name": "区市场监督管理局", "kind": "department"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["path"] == "/HS/DEPT-SJ/"
        assert response.json()["tier"] == 1

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            (
                {"code": "X1", "name": "社区", "kind": "community_center", "parent_code": "HS"},
                422,
                "invalid_unit_parent",
            ),
            (
                {"code": "X1", "name": "社区", "kind": "community_center"},
                422,
                "invalid_unit_parent",
            ),
            (
                {"code": "X1", "name": "街道", "kind": "street_center", "parent_code": "HS-GM"},
                422,
                "invalid_unit_parent",
            ),
            (
                {"code": "X1", "name": "部门", "kind": "department", "parent_code": "HS-GM"},
                422,
                "invalid_unit_parent",
            ),
            (
                {"code": "X1", "name": "街道", "kind": "street_center", "parent_code": "NOPE"},
                422,
                "invalid_unit_parent",
            ),
            ({"code": "X1", "name": "区", "kind": "district_center"}, 409, "district_exists"),
            (
                {"code": "HS-GM", "name": "重复", "kind": "street_center", "parent_code": "HS"},
                409,
                "unit_code_taken",
            ),
            (
                {"code": "hs-low", "name": "小写", "kind": "street_center", "parent_code": "HS"},
                422,
                "validation_error",
            ),
            (
                {"code": "-X", "name": "横线", "kind": "street_center", "parent_code": "HS"},
                422,
                "validation_error",
            ),
            (
                {"code": "X1", "name": "", "kind": "street_center", "parent_code": "HS"},
                422,
                "validation_error",
            ),
            (
                {"code": "X1", "name": "电话", "kind": "department", "phone": "12345"},
                422,
                "validation_error",
            ),
            (
                {"code": "X1", "name": "多余", "kind": "department", "extra": 1},
                422,
                "validation_error",
            ),
        ],
    )
    async def test_rules(
        self,
        routing_client: httpx.AsyncClient,
        org: Org,
        body: dict[str, Any],
        status: int,
        code: str,
    ) -> None:
        response = await create(routing_client, org, body)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code

    async def test_first_district(self, routing_client: httpx.AsyncClient) -> None:
        from services.auth import issue_token

        token = issue_token(subject="root", role="admin", unit_code=None, unit_path=None)
        headers = {"Authorization": f"Bearer {token}"}
        street = await routing_client.post(
            UNITS, json={"code": "ST", "name": "街道", "kind": "street_center"}, headers=headers
        )
        assert street.status_code == 422
        district = await routing_client.post(
            UNITS,
            json={"code": "QX", "name": "某区营商环境优化中心", "kind": "district_center"},
            headers=headers,
        )
        assert district.status_code == 201, district.text
        assert district.json()["path"] == "/QX/"
        assert district.json()["tier"] == 1


class TestUpdateUnit:
    async def test_rename_and_contact(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.patch(
            f"{UNITS}/HS-GM",
            json={"name": "光明路街道中心", "head_name": "王瑞龙", "phone": "13812345678"},
            headers=org.auth("admin"),
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "光明路街道中心"
        assert response.json()["head_name"] == "王瑞龙"
        cleared = await routing_client.patch(
            f"{UNITS}/HS-GM", json={"head_name": None}, headers=org.auth("admin")
        )
        assert cleared.json()["head_name"] is None
        assert cleared.json()["phone"] == "13812345678"

    async def test_move_rewrites_the_subtree(
        self,
        routing_client: httpx.AsyncClient,
        org: Org,
        routing_sessionmaker: AsyncSessionMaker,
    ) -> None:
        rule = await routing_client.post(
            "/v1/dispatch-rules",
            json={"topic": "environment", "area_code": "HS-GM-C1", "unit_code": "DEPT-GH"},
            headers=org.auth("admin"),
        )
        assert rule.status_code == 201, rule.text
        response = await routing_client.patch(
            f"{UNITS}/HS-GM-C1", json={"parent_code": "HS-YQ"}, headers=org.auth("admin")
        )
        assert response.status_code == 200, response.text
        assert response.json()["path"] == "/HS/HS-YQ/HS-GM-C1/"
        assert response.json()["parent_code"] == "HS-YQ"
        async with routing_sessionmaker() as session:
            unit = await session.scalar(select(OrgUnit).where(OrgUnit.code == "HS-GM-C1"))
            assert unit is not None
            assert unit.path == "/HS/HS-YQ/HS-GM-C1/"
            assert unit.parent_id == org.units["HS-YQ"].id
            stored = await session.scalar(select(DispatchRule))
            assert stored is not None
            assert stored.area_path == "/HS/HS-YQ/HS-GM-C1/"
        gm = await routing_client.get(UNITS, headers=org.auth("gm_operator"))
        assert codes(gm) == {"HS-GM"}
        yq = await routing_client.get(UNITS, headers=org.auth("yq_operator"))
        assert codes(yq) == {"HS-YQ", "HS-GM-C1"}

    async def test_move_subtree_statement(
        self, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        """A street with communities moves in one statement (the API never moves streets, but
        the repository rewrites any subtree)."""
        from routing_service.department.repository import OrgUnitRepository

        async with routing_sessionmaker() as session:
            await OrgUnitRepository.from_session(session).move_subtree(
                "/HS/HS-GM/", "/HS/HS-YQ/HS-GM/"
            )
            await session.commit()
            paths = {
                unit.code: unit.path
                for unit in await session.scalars(select(OrgUnit).where(OrgUnit.code.like("HS-%")))
            }
        assert paths == {
            "HS-GM": "/HS/HS-YQ/HS-GM/",
            "HS-GM-C1": "/HS/HS-YQ/HS-GM/HS-GM-C1/",
            "HS-YQ": "/HS/HS-YQ/",
        }

    async def test_invalid_moves(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        street = await routing_client.patch(
            f"{UNITS}/HS-GM", json={"parent_code": "HS-YQ"}, headers=org.auth("admin")
        )
        assert street.status_code == 422
        assert street.json()["error"]["code"] == "invalid_unit_parent"
        district = await routing_client.patch(
            f"{UNITS}/HS", json={"parent_code": "HS-GM"}, headers=org.auth("admin")
        )
        assert district.status_code == 422

    async def test_deactivate(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        in_use = await routing_client.patch(
            f"{UNITS}/HS-GM", json={"active": False}, headers=org.auth("admin")
        )
        assert in_use.status_code == 409
        assert in_use.json()["error"]["code"] == "unit_in_use"
        assert in_use.json()["error"]["details"] == {
            "active_children": 1,
            "active_staff": 2,
            "active_dispatch_rules": 0,
        }
        community = await routing_client.patch(
            f"{UNITS}/HS-GM-C1", json={"active": False}, headers=org.auth("admin")
        )
        assert community.status_code == 200
        assert community.json()["active"] is False
        active_only = await routing_client.get(
            UNITS, params={"include_inactive": "false"}, headers=org.auth("admin")
        )
        assert "HS-GM-C1" not in codes(active_only)
        reactivated = await routing_client.patch(
            f"{UNITS}/HS-GM-C1", json={"active": True}, headers=org.auth("admin")
        )
        assert reactivated.status_code == 200
        assert reactivated.json()["active"] is True

    async def test_inactive_parent(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        street = {"code": "HS-LX", "name": "陵西街道", "kind": "street_center", "parent_code": "HS"}
        community = {
            "code": "HS-LX-C1",
            "name": "社区",
            "kind": "community_center",
            "parent_code": "HS-LX",
        }
        assert (await create(routing_client, org, street)).status_code == 201
        assert (await create(routing_client, org, community)).status_code == 201
        for code in ("HS-LX-C1", "HS-LX"):
            response = await routing_client.patch(
                f"{UNITS}/{code}", json={"active": False}, headers=org.auth("admin")
            )
            assert response.status_code == 200, response.text
        again = await create(routing_client, org, {**community, "code": "HS-LX-C2"})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "unit_inactive"
        reactivate = await routing_client.patch(
            f"{UNITS}/HS-LX-C1", json={"active": True}, headers=org.auth("admin")
        )
        assert reactivate.status_code == 409
        assert reactivate.json()["error"]["code"] == "unit_inactive"
