"""Sign-in (OAuth2 password grant, form or JSON) and ``/v1/auth/me``."""

from __future__ import annotations

import httpx
import jwt

from services.settings import CommonSettings
from tests.fixtures.oauth import ENVELOPE_MEMBERS, TOKEN_PATH, assert_oauth_error
from tests.fixtures.org import PASSWORD, Org

TOKEN = TOKEN_PATH


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
        assert body["expires_in"] == 30 * 60  # STAFF_TOKEN_IDLE_MINUTES
        assert body["must_change_password"] is False
        claims = jwt.decode(
            body["access_token"],
            CommonSettings().secret_key,
            algorithms=["HS256"],
            issuer="yingshang",
        )
        assert claims["sub"] == "hs_dispatcher"
        assert claims["path"] == "/HS/"
        assert claims["exp"] - claims["auth_time"] == 30 * 60
        assert "pwd_change" not in claims

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
            assert_oauth_error(response, "invalid_grant", "invalid_credentials")
        assert wrong.json()["error_description"] == unknown.json()["error_description"]

    async def test_inactive_user(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.patch(
            "/v1/org/staff/gm_operator", json={"active": False}, headers=org.auth("admin")
        )
        assert response.status_code == 200, response.text
        response = await routing_client.post(
            TOKEN, json={"username": "gm_operator", "password": PASSWORD}
        )
        assert_oauth_error(response, "invalid_grant", "invalid_credentials")

    async def test_bad_requests(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        missing = await routing_client.post(TOKEN, data={"username": "admin"})
        body = assert_oauth_error(missing, "invalid_request", "validation_error")
        assert ["password"] in [item["loc"] for item in body["details"]], body
        assert PASSWORD not in missing.text
        grant = await routing_client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "username": "admin", "password": PASSWORD},
        )
        assert_oauth_error(grant, "unsupported_grant_type", "unsupported_grant_type")
        text = await routing_client.post(
            TOKEN, content=b"admin", headers={"Content-Type": "text/plain"}
        )
        assert_oauth_error(text, "invalid_request", "unsupported_media_type")
        broken = await routing_client.post(
            TOKEN, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert_oauth_error(broken, "invalid_request", "validation_error")
        huge = await routing_client.post(
            TOKEN, json={"username": "admin", "password": "x" * 20_000}
        )
        assert_oauth_error(huge, "invalid_request", "document_too_large")

    async def test_the_exact_rfc_6749_wire_format(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        """What an OAuth2 client library parses (section 5.2): the status, the JSON members
        and their types, the caching headers; the envelope's fields ride along."""
        response = await routing_client.post(
            TOKEN, data={"grant_type": "password", "username": "admin", "password": "wrong-pw"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert "www-authenticate" not in response.headers  # a 400, not a 401 challenge
        assert response.json() == {
            "error": "invalid_grant",
            "error_description": "用户名或密码错误,或账号已停用 / "
            "Wrong username or password, or the account is disabled",
            "code": "invalid_credentials",
            "message": "用户名或密码错误,或账号已停用",
            "message_en": "Wrong username or password, or the account is disabled",
            "details": None,
            "request_id": response.headers["x-request-id"],
        }

    async def test_success_is_unchanged_but_not_cacheable(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.post(
            TOKEN, data={"grant_type": "password", "username": "admin", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        assert set(response.json()) == {
            "access_token", "token_type", "expires_in", "role", "unit_code", "display_name",
            "must_change_password",
        }  # fmt: skip
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"

    async def test_other_endpoints_keep_the_envelope(
        self, routing_client: httpx.AsyncClient
    ) -> None:
        response = await routing_client.get("/v1/auth/me")
        assert response.status_code == 401
        assert set(response.json()) == {"error"}
        assert set(response.json()["error"]) == ENVELOPE_MEMBERS
        assert "cache-control" not in response.headers


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
