"""Staff accounts kept safe: the password policy wherever a password is set, the sign-in lockout
with backoff, the self-service password change, the forced change at first sign-in in
production, and idle sessions (short tokens renewed by POST /v1/auth/refresh, within an
absolute limit)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from routing_service.config import settings
from routing_service.models import StaffUser
from services import auth
from services.db import AsyncSessionMaker
from services.settings import CommonSettings, common_settings
from tests.fixtures.org import PASSWORD, Org
from tests.routing_service.department.test_import import admin_headers, small_document

TOKEN = "/v1/auth/token"
PASSWORD_CHANGE = "/v1/auth/password"
REFRESH = "/v1/auth/refresh"
ME = "/v1/auth/me"
STAFF = "/v1/org/staff"
STRONG = "Lantern-river-奔跑-42"
OTHER_STRONG = "Quiet-harbour-晨光-17"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(
        token, CommonSettings().secret_key, algorithms=["HS256"], issuer="yingshang"
    )
    return decoded


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(TOKEN, data={"username": username, "password": password})


async def token_of(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await sign_in(client, username, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def assert_locked(response: httpx.Response) -> int:
    """The token endpoint's lockout answer (RFC 6749 shape, 429 kept): the seconds to wait."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "login_locked", body
    assert body["error"] == "temporarily_unavailable", body
    assert body["message"].startswith("登录失败次数过多")
    assert response.headers["cache-control"] == "no-store"
    seconds = int(response.headers["retry-after"])
    assert body["details"] == {"retry_after_seconds": seconds}
    return seconds


@pytest.fixture
async def elsewhere() -> AsyncIterator[httpx.AsyncClient]:
    """A client at another address (the routing app's lifespan is run by routing_client)."""
    from routing_service.app import app

    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=False, client=("198.51.100.7", 40000)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def production() -> Iterator[None]:
    """ENV=production for the settings read meanwhile (tokens issued, not the app's start)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENV", "production")
        common_settings.cache_clear()
        yield
    common_settings.cache_clear()  # re-read with the environment restored


# --- the password policy --------------------------------------------------------------------

WEAK = [
    ("Sh0rt-pw!", "min_length"),
    ("my-jt_handler-pass", "contains_username"),
    ("JTHANDLER-2026-ok", "contains_username"),  # the username without its separator, any case
    ("PassWord123456", "common"),
    ("woaini1314520", "common"),
    ("a123456789", "min_length"),  # common too, but too short is said first
    ("1qaz2wsx3edc", "common"),  # a keyboard walk
    ("zhangwei123456", "common"),  # pinyin name and digits
    ("xxxxxxxxxxxxxxxx", "repeated"),
    ("abcabcabcabcabc", "repeated"),
    ("345678901234", "sequence"),
    ("9876543210987", "sequence"),
    ("abcdefghijklmn", "sequence"),
]


class TestPasswordPolicy:
    @pytest.mark.parametrize(("password", "rule"), WEAK)
    async def test_create_refuses_each_rule(
        self, routing_client: httpx.AsyncClient, org: Org, password: str, rule: str
    ) -> None:
        response = await routing_client.post(STAFF, headers=org.auth("admin"), json={
            "username": "jt_handler", "display_name": "交通局承办人", "role": "handler",
            "unit_code": "DEPT-JT", "password": password})  # fmt: skip
        error = assert_error(response, 422, "weak_password")
        assert error["details"]["rule"] == rule
        assert "密码" in error["message"]  # Chinese first, then English
        assert error["message_en"]
        assert password not in response.text
        created = await routing_client.get(f"{STAFF}/jt_handler", headers=org.auth("admin"))
        assert created.status_code == 404

    async def test_minimum_length_is_a_setting(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "password_min_length", 20)
        response = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"password": STRONG}, headers=org.auth("admin")
        )
        error = assert_error(response, 422, "weak_password")
        assert error["details"] == {"rule": "min_length", "min_length": 20}
        assert "20" in error["message"]

    async def test_a_reset_is_checked_and_leaves_the_old_password(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"password": "qwerty123456"}, headers=org.auth("admin")
        )
        assert assert_error(response, 422, "weak_password")["details"]["rule"] == "common"
        assert (await sign_in(routing_client, "gm_operator")).status_code == 200
        # The admin's session was not cut off by the refused reset.
        assert (await routing_client.get(ME, headers=org.auth("gm_operator"))).status_code == 200

    async def test_a_strong_password_passes(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"password": STRONG}, headers=org.auth("admin")
        )
        assert response.status_code == 200, response.text
        assert (await sign_in(routing_client, "gm_operator", STRONG)).status_code == 200

    async def test_the_import_refuses_a_weak_password_as_a_row_error(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        doc = small_document()
        doc["staff"][0]["password"] = "admin@123"
        response = await routing_client.post("/v1/org/import", json=doc, headers=admin_headers())
        error = assert_error(response, 422, "invalid_org_document")
        assert {
            "loc": "staff[0].password",
            "code": "weak_password",
            "message": "密码太短:至少需要 12 个字符",
            "message_en": "The password is too short: at least 12 characters",
        } in error["details"]
        async with routing_sessionmaker() as session:  # all-or-nothing
            assert await session.scalar(select(StaffUser.id).limit(1)) is None
        doc["staff"][0]["password"] = "qx-admin-2026-long"
        response = await routing_client.post("/v1/org/import", json=doc, headers=admin_headers())
        assert assert_error(response, 422, "invalid_org_document")["details"][0] == {
            "loc": "staff[0].password", "code": "weak_password",
            "message": "密码不能包含用户名", "message_en": "The password must not contain the username",
        }  # fmt: skip
        doc["staff"][0]["password"] = STRONG
        response = await routing_client.post("/v1/org/import", json=doc, headers=admin_headers())
        assert response.status_code == 200, response.text


# --- the sign-in lockout --------------------------------------------------------------------


class TestLockout:
    async def test_five_failures_lock_the_username_even_for_the_right_password(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        for _ in range(4):
            wrong = await sign_in(routing_client, "hs_operator", "not-the-password")
            assert wrong.json()["code"] == "invalid_credentials"
        # The fifth failure is still answered as a wrong password; it starts the lock.
        fifth = await sign_in(routing_client, "hs_operator", "not-the-password")
        assert fifth.json()["code"] == "invalid_credentials"
        assert assert_locked(await sign_in(routing_client, "hs_operator")) == 60
        # Others sign in from the same address as usual.
        assert (await sign_in(routing_client, "hs_dispatcher")).status_code == 200

    async def test_the_lock_doubles_per_further_failure_up_to_the_cap(
        self,
        routing_client: httpx.AsyncClient,
        org: Org,
        redis_client: Redis,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "login_lock_max_seconds", 200)
        lock = "ratelimit:signin:user:hs_operator:locked"
        for _ in range(5):
            await sign_in(routing_client, "hs_operator", "not-the-password")
        seen = []
        for _ in range(3):
            seen.append(assert_locked(await sign_in(routing_client, "hs_operator")))
            await redis_client.delete(lock)  # as if the lock had run out
            failed = await sign_in(routing_client, "hs_operator", "not-the-password")
            assert failed.json()["code"] == "invalid_credentials"
        seen.append(assert_locked(await sign_in(routing_client, "hs_operator")))
        assert seen == [60, 120, 200, 200]
        # The count outlives the lock it caused: forgotten only a window after it ends.
        ttl = await redis_client.ttl("ratelimit:signin:user:hs_operator:failures")
        assert 200 + 15 * 60 - 5 <= ttl <= 200 + 15 * 60

    async def test_a_success_clears_the_usernames_count(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        for _ in range(4):
            await sign_in(routing_client, "hs_operator", "not-the-password")
        assert (await sign_in(routing_client, "hs_operator")).status_code == 200
        for _ in range(4):
            await sign_in(routing_client, "hs_operator", "not-the-password")
        assert (await sign_in(routing_client, "hs_operator")).status_code == 200

    async def test_unknown_usernames_are_locked_alike(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        answers = {}
        for username in ("ghost", "hs_operator"):
            for _ in range(5):
                failed = await sign_in(routing_client, username, "not-the-password")
                assert failed.json()["code"] == "invalid_credentials"
            answers[username] = await sign_in(routing_client, username)
            assert_locked(answers[username])
        ghost, known = (answers[name].json() for name in ("ghost", "hs_operator"))
        assert {**ghost, "request_id": None} == {**known, "request_id": None}

    async def test_an_address_is_locked_across_usernames(
        self, routing_client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, org: Org
    ) -> None:
        # Twenty usernames, one failure each: no username is near its own limit.
        for i in range(20):
            failed = await sign_in(routing_client, f"guess{i:02d}", "not-the-password")
            assert failed.json()["code"] == "invalid_credentials"
        assert_locked(await sign_in(routing_client, "hs_dispatcher"))
        # The account itself is not locked: from another address it signs in.
        assert (await sign_in(elsewhere, "hs_dispatcher")).status_code == 200

    async def test_redis_down_fails_open(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from routing_service.app import app

        monkeypatch.setattr(app.state.queue, "redis", Redis.from_url("redis://127.0.0.1:1/0"))
        for _ in range(6):
            await sign_in(routing_client, "hs_operator", "not-the-password")
        assert (await sign_in(routing_client, "hs_operator")).status_code == 200


# --- the self-service password change -------------------------------------------------------


class TestChangePassword:
    async def test_changes_it_revokes_earlier_tokens_and_answers_a_fresh_one(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        old = bearer(await token_of(routing_client, "hs_operator"))
        response = await routing_client.post(PASSWORD_CHANGE, headers=old, json={
            "current_password": PASSWORD, "new_password": STRONG})  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["must_change_password"] is False
        fresh = bearer(body["access_token"])
        assert (await routing_client.get(ME, headers=fresh)).status_code == 200
        assert_error(await routing_client.get(ME, headers=old), 401, "token_revoked")
        assert_error(
            await routing_client.get(ME, headers=org.auth("hs_operator")), 401, "token_revoked"
        )
        # Another process learns it from Redis at its next reload.
        monkeypatch.setattr(auth, "_cutoffs", auth._CutoffCopy())
        assert_error(await routing_client.get(ME, headers=old), 401, "token_revoked")
        assert (await routing_client.get(ME, headers=fresh)).status_code == 200
        assert (await sign_in(routing_client, "hs_operator")).status_code == 400
        assert (await sign_in(routing_client, "hs_operator", STRONG)).status_code == 200

    async def test_refusals(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        me = org.auth("hs_operator")

        async def change(current: str, new: str) -> httpx.Response:
            return await routing_client.post(PASSWORD_CHANGE, headers=me, json={
                "current_password": current, "new_password": new})  # fmt: skip

        assert_error(await change("not-the-password", STRONG), 422, "wrong_current_password")
        same = assert_error(await change(PASSWORD, PASSWORD), 422, "weak_password")
        assert same["details"] == {"rule": "same_as_current"}
        weak = assert_error(await change(PASSWORD, "hs_operator-2026"), 422, "weak_password")
        assert weak["details"] == {"rule": "contains_username"}
        assert_error(await change(PASSWORD, "iloveyou"), 422, "weak_password")
        # Nothing changed: the token and the password still work.
        assert (await routing_client.get(ME, headers=me)).status_code == 200
        assert (await sign_in(routing_client, "hs_operator")).status_code == 200
        assert_error(
            await routing_client.post(PASSWORD_CHANGE, json={
                "current_password": PASSWORD, "new_password": STRONG}),  # fmt: skip
            401, "unauthorized",
        )  # fmt: skip

    async def test_wrong_current_passwords_count_towards_the_lockout(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        me = org.auth("hs_operator")
        for _ in range(5):
            wrong = await routing_client.post(PASSWORD_CHANGE, headers=me, json={
                "current_password": "guess-guess-guess", "new_password": STRONG})  # fmt: skip
            assert_error(wrong, 422, "wrong_current_password")
        locked = await routing_client.post(PASSWORD_CHANGE, headers=me, json={
            "current_password": PASSWORD, "new_password": STRONG})  # fmt: skip
        assert_error(locked, 429, "login_locked")
        assert locked.headers["retry-after"] == "60"
        assert_locked(await sign_in(routing_client, "hs_operator"))


# --- the forced change at first sign-in -----------------------------------------------------


async def force_change(client: httpx.AsyncClient, org: Org, username: str) -> None:
    """The admin resets the password as a one-time one."""
    response = await client.patch(
        f"{STAFF}/{username}",
        json={"password": STRONG, "must_change_password": True},
        headers=org.auth("admin"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["must_change_password"] is True


class TestForcedChange:
    async def test_in_production_the_token_is_good_for_the_change_alone(
        self,
        routing_client: httpx.AsyncClient,
        scoring_client: httpx.AsyncClient,
        org: Org,
        production: None,
    ) -> None:
        await force_change(routing_client, org, "hs_operator")
        response = await sign_in(routing_client, "hs_operator", STRONG)
        assert response.status_code == 200, response.text
        assert response.json()["must_change_password"] is True
        waiting = response.json()["access_token"]
        assert claims(waiting)["pwd_change"] is True
        for answer in (
            await routing_client.get(ME, headers=bearer(waiting)),
            await routing_client.get("/v1/queues", headers=bearer(waiting)),
            await routing_client.post(REFRESH, headers=bearer(waiting)),
            await scoring_client.get("/v1/revisits", headers=bearer(waiting)),  # another service
        ):
            error = assert_error(answer, 403, "password_change_required")
            assert error["message"].startswith("请先修改初始密码")

        changed = await routing_client.post(PASSWORD_CHANGE, headers=bearer(waiting), json={
            "current_password": STRONG, "new_password": OTHER_STRONG})  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert changed.json()["must_change_password"] is False
        fresh = changed.json()["access_token"]
        assert "pwd_change" not in claims(fresh)
        assert (await routing_client.get(ME, headers=bearer(fresh))).status_code == 200
        assert (await scoring_client.get("/v1/revisits", headers=bearer(fresh))).status_code == 200
        assert_error(await routing_client.get(ME, headers=bearer(waiting)), 401, "token_revoked")
        again = await sign_in(routing_client, "hs_operator", OTHER_STRONG)
        assert again.json()["must_change_password"] is False

    async def test_outside_production_it_is_reported_not_enforced(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        await force_change(routing_client, org, "hs_operator")
        response = await sign_in(routing_client, "hs_operator", STRONG)
        assert response.json()["must_change_password"] is True
        token = response.json()["access_token"]
        assert "pwd_change" not in claims(token)
        assert (await routing_client.get(ME, headers=bearer(token))).status_code == 200

    async def test_the_first_start_admin_must_change_it(
        self,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        test_database: str,
    ) -> None:
        from routing_service.department.bootstrap import bootstrap
        from routing_service.department.passwords import password_problem

        admin = await asyncio.to_thread(bootstrap, test_database)
        assert admin is not None
        assert password_problem(admin["password"], "admin") is None
        async with routing_sessionmaker() as session:
            row = await session.scalar(select(StaffUser).where(StaffUser.username == "admin"))
            assert row is not None
            assert row.must_change_password is True
        response = await sign_in(routing_client, "admin", admin["password"])
        assert response.status_code == 200, response.text
        assert response.json()["must_change_password"] is True


# --- idle sessions --------------------------------------------------------------------------


class TestRefresh:
    async def test_a_token_lives_the_idle_timeout_and_refreshes_within_the_session(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        first = await token_of(routing_client, "hs_operator")
        signed_in = claims(first)
        assert signed_in["exp"] - signed_in["iat"] == pytest.approx(30 * 60, abs=1)
        response = await routing_client.post(REFRESH, headers=bearer(first))
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["expires_in"] == 30 * 60
        renewed = response.json()["access_token"]
        assert claims(renewed)["auth_time"] == signed_in["auth_time"]  # the same session
        assert claims(renewed)["jti"] != signed_in["jti"]
        assert (await routing_client.get(ME, headers=bearer(renewed))).status_code == 200

    async def test_refused_beyond_the_sessions_absolute_age(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        def started(hours_ago: float) -> dict[str, str]:
            return bearer(auth.issue_token(
                subject="hs_operator", role="operator", unit_code="HS", unit_path="/HS/",
                session_started_at=time.time() - hours_ago * 3600))  # fmt: skip

        late = await routing_client.post(REFRESH, headers=started(12 + 1 / 60))
        assert_error(late, 401, "session_expired")
        # Ten minutes before the end: renewed, but not past the end.
        near_end = await routing_client.post(REFRESH, headers=started(12 - 10 / 60))
        assert near_end.status_code == 200, near_end.text
        assert 590 <= near_end.json()["expires_in"] <= 600

    async def test_an_expired_token_is_not_refreshed(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        expired = auth.issue_token(subject="hs_operator", role="operator", unit_code="HS",
                                   unit_path="/HS/", ttl=timedelta(seconds=-1))  # fmt: skip
        assert_error(await routing_client.post(REFRESH, headers=bearer(expired)), 401,
                     "invalid_token")  # fmt: skip

    async def test_a_disabled_users_refresh_is_refused_even_before_the_cutoff_arrives(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = bearer(await token_of(routing_client, "hs_operator"))
        # A process that has not reloaded the cutoffs yet (it never will in this test): the
        # database still refuses the refresh.
        monkeypatch.setattr(auth, "_cutoffs", auth._CutoffCopy(loaded_at=float("inf")))
        disabled = await routing_client.patch(
            f"{STAFF}/hs_operator", json={"active": False}, headers=org.auth("admin")
        )
        assert disabled.status_code == 200, disabled.text
        monkeypatch.setattr(auth, "_cutoffs", auth._CutoffCopy(loaded_at=float("inf")))
        assert (await routing_client.get(ME, headers=token)).status_code == 200
        assert_error(await routing_client.post(REFRESH, headers=token), 401, "token_revoked")

    async def test_a_moved_users_old_token_is_not_refreshed(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = bearer(await token_of(routing_client, "gm_operator"))
        moved = await routing_client.patch(
            f"{STAFF}/gm_operator", json={"unit_code": "HS-YQ"}, headers=org.auth("admin")
        )
        assert moved.status_code == 200, moved.text
        assert_error(await routing_client.post(REFRESH, headers=token), 401, "token_revoked")
        # Where the cutoff has not arrived yet, the database's cutoff refuses it all the same.
        monkeypatch.setattr(auth, "_cutoffs", auth._CutoffCopy(loaded_at=float("inf")))
        assert (await routing_client.get(ME, headers=token)).status_code == 200
        assert_error(await routing_client.post(REFRESH, headers=token), 401, "token_revoked")
        renewed = await routing_client.post(
            REFRESH, headers=bearer(await token_of(routing_client, "gm_operator"))
        )
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["unit_code"] == "HS-YQ"
