"""Staff tokens stop working once their holder is disabled, moved, re-roled or given a new
password: the cutoff routing records reaches every process through Redis, and survives Redis
losing it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from routing_service.department.token_cutoffs import republish_token_cutoffs
from routing_service.models import StaffUser
from services import auth
from services.db import AsyncSessionMaker
from services.errors import Unauthorized
from services.models import utcnow
from services.queue import QueueClient
from services.settings import CommonSettings
from tests.fixtures.environment import RUN_REDIS_URL
from tests.fixtures.org import PASSWORD, Org

STAFF = "/v1/org/staff"
ME = "/v1/auth/me"
INTAKE_LIST = "/v1/staff/requests"


@pytest.fixture
def other_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process forgets the cutoffs it applied itself, like another API process that knows
    only what Redis tells it; and reloads that copy on every request (interval 0)."""
    monkeypatch.setattr(auth, "_cutoffs", auth._CutoffCopy())
    settings = CommonSettings(token_cutoff_refresh_seconds=0)
    monkeypatch.setattr(auth, "common_settings", lambda: settings)


@pytest.fixture
async def queue_client() -> AsyncIterator[QueueClient]:
    client = QueueClient(RUN_REDIS_URL)
    yield client
    await client.close()


async def stored_cutoff(redis: Redis, subject: str) -> bytes | None:
    # redis-py types hash commands for both its sync and async clients.
    return await cast("Awaitable[bytes | None]", redis.hget(auth.TOKEN_CUTOFFS_KEY, subject))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_revoked(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "token_revoked"
    assert error["message"].startswith("登录凭据已失效")


async def patch(client: httpx.AsyncClient, org: Org, username: str, **body: Any) -> None:
    response = await client.patch(f"{STAFF}/{username}", json=body, headers=org.auth("admin"))
    assert response.status_code == 200, response.text


async def test_disabled_staffs_old_token_is_refused_everywhere_and_a_new_one_works(
    routing_client: httpx.AsyncClient,
    intake_client: httpx.AsyncClient,
    org: Org,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = org.auth("hs_operator")
    assert (await intake_client.get(INTAKE_LIST, headers=old)).status_code == 200
    await patch(routing_client, org, "hs_operator", active=False)
    # The routing process applied the cutoff it published at once.
    assert_revoked(await routing_client.get(ME, headers=old))

    # Another process keeps its copy until the interval has passed, then reloads it from Redis.
    fresh = auth._CutoffCopy(loaded_at=float("inf"))
    monkeypatch.setattr(auth, "_cutoffs", fresh)
    assert (await intake_client.get(INTAKE_LIST, headers=old)).status_code == 200
    fresh.loaded_at = float("-inf")
    assert_revoked(await intake_client.get(INTAKE_LIST, headers=old))
    assert "hs_operator" in fresh.values

    # Re-enabled in the same second: a token issued now works, the old one stays refused.
    await patch(routing_client, org, "hs_operator", active=True)
    new = bearer(await sign_in(routing_client, "hs_operator"))
    assert (await routing_client.get(ME, headers=new)).status_code == 200
    assert (await intake_client.get(INTAKE_LIST, headers=new)).status_code == 200
    assert_revoked(await intake_client.get(INTAKE_LIST, headers=old))
    # Others' tokens are untouched.
    assert (
        await intake_client.get(INTAKE_LIST, headers=org.auth("hs_dispatcher"))
    ).status_code == 200


@pytest.mark.parametrize(
    ("change", "revokes"),
    [
        ({"unit_code": "HS-GM"}, True),  # moved to another unit
        ({"role": "dispatcher"}, True),
        ({"password": "another-long-password"}, True),
        ({"display_name": "改个名字"}, False),
        ({"phone": "13800000000"}, False),
    ],
)
async def test_moved_re_roled_or_new_password_revoke_other_changes_do_not(
    routing_client: httpx.AsyncClient,
    intake_client: httpx.AsyncClient,
    org: Org,
    other_process: None,
    change: dict[str, Any],
    revokes: bool,
) -> None:
    old = org.auth("hs_operator")
    await patch(routing_client, org, "hs_operator", **change)
    response = await intake_client.get(INTAKE_LIST, headers=old)
    if revokes:
        assert_revoked(response)
        password = change.get("password", PASSWORD)
        new = bearer(await sign_in(routing_client, "hs_operator", password))
        me = await routing_client.get(ME, headers=new)
        assert me.status_code == 200, me.text
        assert me.json()["role"] == change.get("role", "operator")
    else:
        assert response.status_code == 200, response.text


async def test_the_cutoff_is_recorded_on_the_staff_row(
    routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
) -> None:
    before = utcnow()
    await patch(routing_client, org, "jt_liaison", active=False)
    async with routing_sessionmaker() as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.username == "jt_liaison"))
        assert user is not None
        assert user.tokens_valid_after is not None
        assert before <= user.tokens_valid_after <= utcnow()


async def test_the_cutoff_survives_a_flushed_redis_through_the_republish_job(
    routing_client: httpx.AsyncClient,
    intake_client: httpx.AsyncClient,
    org: Org,
    routing_sessionmaker: AsyncSessionMaker,
    redis_client: Redis,
    queue_client: QueueClient,
    other_process: None,
) -> None:
    old = org.auth("hs_dispatcher")
    await patch(routing_client, org, "hs_dispatcher", role="supervisor")
    assert await stored_cutoff(redis_client, "hs_dispatcher") is not None
    await redis_client.flushdb()
    # A process started after the flush knows nothing until the job has run.
    auth._cutoffs.values.clear()
    assert (await intake_client.get(INTAKE_LIST, headers=old)).status_code == 200

    ctx = {"sessionmaker": routing_sessionmaker, "queue_client": queue_client}
    assert await republish_token_cutoffs(ctx) == {"cutoffs": 1}
    assert await stored_cutoff(redis_client, "hs_dispatcher") is not None
    assert_revoked(await intake_client.get(INTAKE_LIST, headers=old))


async def test_a_republish_never_moves_a_newer_cutoff_back(
    redis_client: Redis, queue_client: QueueClient
) -> None:
    newer, older = utcnow(), utcnow() - timedelta(minutes=5)
    await auth.publish_token_cutoffs(queue_client.redis, {"li.si": newer})
    await auth.publish_token_cutoffs(queue_client.redis, {"li.si": older})
    stored = await stored_cutoff(redis_client, "li.si")
    assert stored is not None
    assert float(stored) == pytest.approx(newer.timestamp(), abs=0.001)


async def test_an_unreachable_redis_keeps_the_last_known_copy(
    monkeypatch: pytest.MonkeyPatch, redis_client: Redis, queue_client: QueueClient
) -> None:
    token = auth.issue_token(subject="wang.wu", role="operator", unit_code="HS", unit_path="/HS/")
    cutoff = utcnow() + timedelta(milliseconds=5)  # after the token was issued
    monkeypatch.setattr(auth, "_cutoffs", auth._CutoffCopy())
    value = f"{cutoff.timestamp():.3f}"
    await cast("Awaitable[int]", redis_client.hset(auth.TOKEN_CUTOFFS_KEY, "wang.wu", value))
    assert await auth.refresh_token_cutoffs(queue_client.redis) is True
    with pytest.raises(Unauthorized) as refused:
        auth.decode_token(token)
    assert refused.value.code == "token_revoked"

    dead = QueueClient("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert await auth.refresh_token_cutoffs(dead.redis) is False
        settings = CommonSettings(token_cutoff_refresh_seconds=0)
        monkeypatch.setattr(auth, "common_settings", lambda: settings)
        await auth.refresh_token_cutoffs_if_stale(dead)
        assert not dead.available  # the breaker spares the next requests the wait
    finally:
        await dead.close()
    with pytest.raises(Unauthorized):
        auth.decode_token(token)


def test_service_tokens_are_not_subject_to_staff_cutoffs(monkeypatch: pytest.MonkeyPatch) -> None:
    copy = auth._CutoffCopy()
    monkeypatch.setattr(auth, "_cutoffs", copy)
    token = auth.service_token("routing")
    copy.merge({"routing": auth._epoch_ms(utcnow() + timedelta(hours=1))})
    assert auth.decode_token(token).kind == "service"


def test_the_routing_worker_republishes_every_minute() -> None:
    from routing_service.worker import WorkerSettings

    names = {job.name for job in WorkerSettings.cron_jobs}  # type: ignore[attr-defined]
    assert "routing.republish_token_cutoffs" in names


async def test_an_org_import_that_re_roles_someone_revokes_their_tokens(
    routing_client: httpx.AsyncClient, other_process: None
) -> None:
    from tests.routing_service.department.test_import import IMPORT, admin_headers, small_document

    doc = small_document()
    first = await routing_client.post(IMPORT, json=doc, headers=admin_headers())
    assert first.status_code == 200, first.text
    old = bearer(
        auth.issue_token(subject="qx_jt", role="liaison", unit_code="QX-JT", unit_path="/QX/QX-JT/")
    )
    assert (await routing_client.get(ME, headers=old)).status_code == 200
    same = await routing_client.post(IMPORT, json=doc, headers=admin_headers())
    assert same.status_code == 200, same.text
    assert (await routing_client.get(ME, headers=old)).status_code == 200  # nothing changed
    doc["staff"][1]["role"] = "head"
    again = await routing_client.post(IMPORT, json=doc, headers=admin_headers())
    assert again.status_code == 200, again.text
    assert_revoked(await routing_client.get(ME, headers=old))
