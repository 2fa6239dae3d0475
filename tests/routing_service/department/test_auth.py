"""Sign-in (OAuth2 password grant, form or JSON) and ``/v1/auth/me``."""

from __future__ import annotations

import httpx
import jwt

from services.settings import CommonSettings
from tests.fixtures.org import PASSWORD, Org

TOKEN = "/v1/auth/token"


class TestIssueToken:
    async def test_form(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(
            TOKEN,
            data={"grant_type": "password", "username": "hs_dispatcher", "password": PASSWORD},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["role"] == "dispatcher"
        assert body["unit_code"] == "HS"
        assert body["expires_in"] == 8 * 3600
        claims = jwt.decode(
            body["access_token"],
            CommonSettings().secret_key,
            algorithms=["HS256"],
            issuer="yingshang",
        )
        assert claims["sub"] == "hs_dispatcher"
        assert claims["path"] == "/HS/"

    async def test_json(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(
            TOKEN, json={"username": "gm_operator", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        me = await routing_client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["unit_path"] == "/HS/HS-GM/"
        assert me.json()["role_label"] == "受理员"

    async def test_wrong_password_and_unknown_user_answer_alike(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        wrong = await routing_client.post(
            TOKEN, data={"username": "admin", "password": "nope-nope-nope"}
        )
        unknown = await routing_client.post(TOKEN, data={"username": "ghost", "password": PASSWORD})
        for response in (wrong, unknown):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_credentials"
            assert response.headers["www-authenticate"] == "Bearer"
        assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]

    async def test_inactive_user(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.patch(
            "/v1/org/staff/gm_operator", json={"active": False}, headers=org.auth("admin")
        )
        assert response.status_code == 200, response.text
        response = await routing_client.post(
            TOKEN, json={"username": "gm_operator", "password": PASSWORD}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_credentials"

    async def test_bad_requests(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        missing = await routing_client.post(TOKEN, data={"username": "admin"})
        assert missing.status_code == 422
        assert missing.json()["error"]["code"] == "validation_error"
        assert PASSWORD not in missing.text
        grant = await routing_client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "username": "admin", "password": PASSWORD},
        )
        assert grant.status_code == 400
        assert grant.json()["error"]["code"] == "unsupported_grant_type"
        text = await routing_client.post(
            TOKEN, content=b"admin", headers={"Content-Type": "text/plain"}
        )
        assert text.status_code == 415
        broken = await routing_client.post(
            TOKEN, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 422
        huge = await routing_client.post(
            TOKEN, json={"username": "admin", "password": "x" * 20_000}
        )
        assert huge.status_code == 413


class TestWhoAmI:
    async def test_requires_credentials(self, routing_client: httpx.AsyncClient) -> None:
        response = await routing_client.get("/v1/auth/me")
        assert response.status_code == 401
        bad = await routing_client.get("/v1/auth/me", headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "invalid_token"

    async def test_staff(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.get("/v1/auth/me", headers=org.auth("jt_liaison"))
        assert response.status_code == 200
        assert response.json() == {
            "kind": "staff",
            "subject": "jt_liaison",
            "role": "liaison",
            "role_label": "部门联络员",
            "unit_code": "DEPT-JT",
            "unit_path": "/HS/DEPT-JT/",
            "display_name": "jt_liaison",
        }
