"""Department API keys: shown once, scoped to the unit, listed without secrets, revocable."""

from __future__ import annotations

import httpx

from tests.fixtures.org import Org


def keys_url(code: str) -> str:
    return f"/v1/org/units/{code}/api-keys"


class TestApiKeys:
    async def test_create_use_list_revoke(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        created = await routing_client.post(
            keys_url("DEPT-JT"), json={"name": "交通局业务系统"}, headers=org.auth("admin")
        )
        assert created.status_code == 201, created.text
        body = created.json()
        raw = body["api_key"]
        assert raw.startswith("ys_")
        assert body["scope"] == "DEPT-JT"

        me = await routing_client.get("/v1/auth/me", headers={"X-API-Key": raw})
        assert me.status_code == 200, me.text
        assert me.json()["kind"] == "unit_key"
        assert me.json()["unit_code"] == "DEPT-JT"
        bearer = await routing_client.get("/v1/auth/me", headers={"Authorization": f"Bearer {raw}"})
        assert bearer.status_code == 200

        listed = await routing_client.get(keys_url("DEPT-JT"), headers=org.auth("admin"))
        assert listed.status_code == 200
        (item,) = listed.json()
        assert item["id"] == body["id"]
        assert "api_key" not in item
        assert "key_hash" not in item
        assert raw not in listed.text

        revoked = await routing_client.delete(
            f"{keys_url('DEPT-JT')}/{body['id']}", headers=org.auth("admin")
        )
        assert revoked.status_code == 204
        me = await routing_client.get("/v1/auth/me", headers={"X-API-Key": raw})
        assert me.status_code == 401
        assert me.json()["error"]["code"] == "invalid_api_key"
        listed = await routing_client.get(keys_url("DEPT-JT"), headers=org.auth("admin"))
        assert listed.json()[0]["revoked_at"] is not None
        again = await routing_client.delete(
            f"{keys_url('DEPT-JT')}/{body['id']}", headers=org.auth("admin")
        )
        assert again.status_code == 204

    async def test_the_department_head(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        own = await routing_client.post(
            keys_url("DEPT-JT"), json={"name": "head's key"}, headers=org.auth("jt_head")
        )
        assert own.status_code == 201
        listed = await routing_client.get(keys_url("DEPT-JT"), headers=org.auth("jt_head"))
        assert listed.status_code == 200
        for username, code in (
            ("jt_head", "DEPT-GH"),
            ("jt_liaison", "DEPT-JT"),
            ("hs_leader", "DEPT-JT"),
        ):
            response = await routing_client.post(
                keys_url(code), json={"name": "x"}, headers=org.auth(username)
            )
            assert response.status_code == 403, (username, code)

    async def test_scope_and_kinds(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        created = await routing_client.post(
            keys_url("DEPT-JT"), json={"name": "k"}, headers=org.auth("admin")
        )
        key_id = created.json()["id"]
        other_unit = await routing_client.delete(
            f"{keys_url('DEPT-GH')}/{key_id}", headers=org.auth("admin")
        )
        assert other_unit.status_code == 404
        assert other_unit.json()["error"]["code"] == "api_key_not_found"
        center = await routing_client.post(
            keys_url("HS-GM"), json={"name": "k"}, headers=org.auth("admin")
        )
        assert center.status_code == 422
        assert center.json()["error"]["code"] == "api_key_not_allowed"
        missing = await routing_client.post(
            keys_url("NOPE"), json={"name": "k"}, headers=org.auth("admin")
        )
        assert missing.status_code == 404
        bad_id = await routing_client.delete(
            f"{keys_url('DEPT-JT')}/not-a-uuid", headers=org.auth("admin")
        )
        assert bad_id.status_code == 422
        empty = await routing_client.post(
            keys_url("DEPT-JT"), json={"name": ""}, headers=org.auth("admin")
        )
        assert empty.status_code == 422

    async def test_key_of_a_deactivated_department(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        created = await routing_client.post(
            keys_url("DEPT-KG"), json={"name": "科工局系统"}, headers=org.auth("admin")
        )
        raw = created.json()["api_key"]
        off = await routing_client.patch(
            "/v1/org/units/DEPT-KG", json={"active": False}, headers=org.auth("admin")
        )
        assert off.status_code == 200, off.text
        me = await routing_client.get("/v1/auth/me", headers={"X-API-Key": raw})
        assert me.status_code == 401
