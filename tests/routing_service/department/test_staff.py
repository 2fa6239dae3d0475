"""Staff accounts: admin-only writes, role/unit compatibility, scoped lists, password resets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from routing_service.models import StaffUser
from services.db import AsyncSessionMaker
from tests.fixtures.oauth import assert_oauth_error
from tests.fixtures.org import PASSWORD, Org

STAFF = "/v1/org/staff"
NEW_PASSWORD = "a-long-enough-password"


def person(**overrides: Any) -> dict[str, Any]:
    return {
        "username": "jt_handler",
        "display_name": "交通局承办人",
        "role": "handler",
        "unit_code": "DEPT-JT",
        "password": NEW_PASSWORD,
        **overrides,
    }


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": username, "password": password})


class TestCreateStaff:
    async def test_create_and_sign_in(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        response = await routing_client.post(STAFF, json=person(), headers=org.auth("admin"))
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["unit_code"] == "DEPT-JT"
        assert body["role_label"] == "部门承办人"
        assert body["has_password"] is True
        assert "password" not in body
        assert "password_hash" not in body
        async with routing_sessionmaker() as session:
            user = await session.scalar(select(StaffUser).where(StaffUser.username == "jt_handler"))
            assert user is not None
            assert user.password_hash is not None
            assert user.password_hash.startswith("$argon2")
        token = await sign_in(routing_client, "jt_handler", NEW_PASSWORD)
        assert token.status_code == 200
        assert token.json()["unit_code"] == "DEPT-JT"

    async def test_admin_only(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(
            STAFF, json=person(), headers=org.auth("hs_dispatcher")
        )
        assert response.status_code == 403

    @pytest.mark.parametrize(
        ("role", "unit"),
        [
            ("operator", "DEPT-JT"),
            ("dispatcher", "JW"),
            ("liaison", "HS"),
            ("head", "HS-GM"),
            ("discipline_officer", "HS"),
            ("discipline_officer", "DEPT-JT"),
            ("auditor", "HS-GM"),
            ("admin", "DEPT-JT"),
        ],
    )
    async def test_role_must_fit_the_unit(
        self, routing_client: httpx.AsyncClient, org: Org, role: str, unit: str
    ) -> None:
        response = await routing_client.post(
            STAFF, json=person(role=role, unit_code=unit), headers=org.auth("admin")
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "role_unit_mismatch"
        assert error["details"]["role"] == role

    @pytest.mark.parametrize(
        ("role", "unit"),
        [
            ("operator", "HS-GM-C1"),
            ("leader", "HS-YQ"),
            ("head", "DEPT-GD"),
            ("discipline_officer", "JW"),
            ("auditor", "HS"),
        ],
    )
    async def test_fitting_roles(
        self, routing_client: httpx.AsyncClient, org: Org, role: str, unit: str
    ) -> None:
        response = await routing_client.post(
            STAFF, json=person(role=role, unit_code=unit), headers=org.auth("admin")
        )
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize(
        ("overrides", "status", "code"),
        [
            ({"username": "admin"}, 409, "username_taken"),
            ({"unit_code": "NOPE"}, 422, "unknown_unit"),
            ({"password": "short"}, 422, "weak_password"),
            ({"username": "Upper Case"}, 422, "validation_error"),
            ({"role": "emperor"}, 422, "validation_error"),
        ],
    )
    async def test_invalid(
        self,
        routing_client: httpx.AsyncClient,
        org: Org,
        overrides: dict[str, Any],
        status: int,
        code: str,
    ) -> None:
        response = await routing_client.post(
            STAFF, json=person(**overrides), headers=org.auth("admin")
        )
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code


class TestCreatedLocation:
    async def test_location_names_the_new_user(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.post(STAFF, json=person(), headers=org.auth("admin"))
        assert response.status_code == 201, response.text
        assert response.headers["location"] == f"{STAFF}/jt_handler"
        shown = await routing_client.get(response.headers["location"], headers=org.auth("admin"))
        assert shown.status_code == 200
        assert shown.json() == response.json()


class TestListStaff:
    async def test_admin_sees_everyone(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.get(STAFF, headers=org.auth("admin"))
        assert response.status_code == 200
        assert {user["username"] for user in response.json()["items"]} == set(org.staff)

    async def test_street_sees_its_subtree(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        created = await routing_client.post(
            STAFF,
            json=person(username="c1_operator", role="operator", unit_code="HS-GM-C1"),
            headers=org.auth("admin"),
        )
        assert created.status_code == 201
        response = await routing_client.get(STAFF, headers=org.auth("gm_operator"))
        assert response.status_code == 200
        assert {user["username"] for user in response.json()["items"]} == {
            "gm_operator",
            "gm_dispatcher",
            "c1_operator",
        }
        hidden = await routing_client.get(f"{STAFF}/admin", headers=org.auth("gm_operator"))
        assert hidden.status_code == 404

    async def test_department_sees_itself(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.get(STAFF, headers=org.auth("jt_liaison"))
        assert {user["username"] for user in response.json()["items"]} == {"jt_liaison", "jt_head"}

    async def test_filters_and_paging(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        liaisons = await routing_client.get(
            STAFF, params={"role": "liaison"}, headers=org.auth("admin")
        )
        assert {user["username"] for user in liaisons.json()["items"]} == {
            "jt_liaison",
            "gh_liaison",
            "fg_liaison",
            "gd_liaison",
        }
        gm = await routing_client.get(
            STAFF, params={"unit_code": "HS-GM"}, headers=org.auth("admin")
        )
        assert {user["username"] for user in gm.json()["items"]} == {"gm_operator", "gm_dispatcher"}
        bad = await routing_client.get(STAFF, params={"limit": 0}, headers=org.auth("admin"))
        assert bad.status_code == 422
        # Offsets are gone (one pagination style): an unknown parameter is refused, not ignored.
        offset = await routing_client.get(STAFF, params={"offset": 1}, headers=org.auth("admin"))
        assert offset.status_code == 422

    async def _walk(
        self, client: httpx.AsyncClient, org: Org, limit: int, **params: Any
    ) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
            response = await client.get(STAFF, params=query, headers=org.auth("admin"))
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= limit
            pages.append(page)
            cursor = page["next_cursor"]
            if cursor is None:
                return pages

    @pytest.mark.parametrize("limit", [1, 2])
    async def test_cursor_pages(
        self, routing_client: httpx.AsyncClient, org: Org, limit: int
    ) -> None:
        everyone = await routing_client.get(STAFF, params={"limit": 500}, headers=org.auth("admin"))
        expected = [user["username"] for user in everyone.json()["items"]]
        assert len(expected) > 2
        pages = await self._walk(routing_client, org, limit)
        # Every user once, in the one order (unit path, then username), the last page marked.
        assert [user["username"] for page in pages for user in page["items"]] == expected
        assert all(len(page["items"]) == limit for page in pages[:-1])
        assert pages[-1]["next_cursor"] is None
        assert len(pages) == -(-len(expected) // limit)

    async def test_cursor_total_and_filters(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        first = await routing_client.get(
            STAFF, params={"role": "liaison", "limit": 1, "with_total": "true"},
            headers=org.auth("admin"),
        )  # fmt: skip
        page = first.json()
        assert page["total"] == 4
        assert page["limit"] == 1
        assert len(page["items"]) == 1
        assert (await routing_client.get(STAFF, headers=org.auth("admin"))).json()["total"] is None
        # The cursor carries its query: another filter with it is refused.
        other = await routing_client.get(
            STAFF, params={"role": "handler", "cursor": page["next_cursor"]},
            headers=org.auth("admin"),
        )  # fmt: skip
        assert other.status_code == 400
        assert other.json()["error"]["code"] == "cursor_query_mismatch"
        pages = await self._walk(routing_client, org, 1, role="liaison")
        assert len(pages) == 4
        assert pages[0]["items"] == page["items"]

    async def test_tampered_cursor(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        first = await routing_client.get(STAFF, params={"limit": 1}, headers=org.auth("admin"))
        cursor = first.json()["next_cursor"]
        body, signature = cursor.split(".")
        forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
        for bad in (forged, "not-a-cursor", cursor + "x"):
            response = await routing_client.get(
                STAFF, params={"limit": 1, "cursor": bad}, headers=org.auth("admin")
            )
            assert response.status_code == 400, bad
            assert response.json()["error"]["code"] == "invalid_cursor"

    async def test_another_caller_cannot_use_a_cursor(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        first = await routing_client.get(STAFF, params={"limit": 1}, headers=org.auth("admin"))
        response = await routing_client.get(
            STAFF, params={"limit": 1, "cursor": first.json()["next_cursor"]},
            headers=org.auth("auditor"),
        )  # fmt: skip
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "cursor_query_mismatch"


class TestUpdateStaff:
    async def test_password_reset(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"password": NEW_PASSWORD}, headers=org.auth("admin")
        )
        assert response.status_code == 200, response.text
        assert_oauth_error(await sign_in(routing_client, "gm_operator", PASSWORD), "invalid_grant")
        assert (await sign_in(routing_client, "gm_operator", NEW_PASSWORD)).status_code == 200

    async def test_role_and_unit_change(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        promoted = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"role": "supervisor"}, headers=org.auth("admin")
        )
        assert promoted.status_code == 200
        assert promoted.json()["role"] == "supervisor"
        misfit = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"role": "liaison"}, headers=org.auth("admin")
        )
        assert misfit.status_code == 422
        assert misfit.json()["error"]["code"] == "role_unit_mismatch"
        moved = await routing_client.patch(
            f"{STAFF}/jt_liaison", json={"unit_code": "DEPT-GH"}, headers=org.auth("admin")
        )
        assert moved.status_code == 200
        assert moved.json()["unit_code"] == "DEPT-GH"
        token = await sign_in(routing_client, "jt_liaison", PASSWORD)
        assert token.json()["unit_code"] == "DEPT-GH"

    async def test_deactivate(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.patch(
            f"{STAFF}/yq_operator", json={"active": False}, headers=org.auth("admin")
        )
        assert response.status_code == 200
        assert response.json()["active"] is False
        active = await routing_client.get(
            STAFF, params={"active": "true"}, headers=org.auth("admin")
        )
        assert "yq_operator" not in {user["username"] for user in active.json()["items"]}

    async def test_last_admin(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        for change in ({"active": False}, {"role": "leader"}):
            response = await routing_client.patch(
                f"{STAFF}/admin", json=change, headers=org.auth("admin")
            )
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "last_admin"
        second = await routing_client.post(
            STAFF,
            json=person(username="admin2", role="admin", unit_code="HS"),
            headers=org.auth("admin"),
        )
        assert second.status_code == 201
        response = await routing_client.patch(
            f"{STAFF}/admin", json={"role": "leader"}, headers=org.auth("admin")
        )
        assert response.status_code == 200

    async def test_unknown_and_forbidden(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        missing = await routing_client.patch(
            f"{STAFF}/nobody", json={"active": False}, headers=org.auth("admin")
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "staff_not_found"
        forbidden = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"active": False}, headers=org.auth("gm_dispatcher")
        )
        assert forbidden.status_code == 403
