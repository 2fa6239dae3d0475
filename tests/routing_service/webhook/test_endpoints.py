"""The webhook management API: subscriptions, scope, deliveries, replay."""

from __future__ import annotations

import uuid

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from routing_service.config import settings
from routing_service.models import ApiKey, WebhookDelivery
from routing_service.webhook.schemas import WEBHOOK_EVENT_TYPES
from services.db import AsyncSessionMaker
from tests.fixtures.clients import make_key
from tests.fixtures.org import Org
from tests.routing_service.webhook.helpers import subscribe

SUBSCRIPTIONS = "/v1/webhooks/subscriptions"
DELIVERIES = "/v1/webhooks/deliveries"
URL = "https://jt.example.gov.cn/yingshang/hook"


async def key_headers(sessionmaker: AsyncSessionMaker, unit_code: str) -> dict[str, str]:
    return {"X-API-Key": await make_key(sessionmaker, ApiKey, unit_code)}


async def queued_jobs(redis: Redis) -> list[str]:
    return [member.decode() for member in await redis.zrange("routing", 0, -1)]


class TestCreateSubscription:
    async def test_unit_key_defaults_to_its_unit_and_sees_the_secret_once(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        headers = await key_headers(routing_sessionmaker, "DEPT-JT")
        body = await subscribe(
            routing_client,
            headers,
            URL,
            ["card.dispatched", "card.reminder", "card.dispatched"],
            description="交通局督办系统",
        )
        assert body["unit_code"] == "DEPT-JT"
        assert body["unit_id"] == str(org.units["DEPT-JT"].id)
        assert body["event_types"] == ["card.dispatched", "card.reminder"]
        assert body["active"] is True
        assert body["secret"].startswith("whsec_")
        assert len(body["secret"]) == len("whsec_") + 44  # base64 of 32 bytes

        fetched = await routing_client.get(f"{SUBSCRIPTIONS}/{body['id']}", headers=headers)
        assert fetched.status_code == 200
        assert "secret" not in fetched.json()

    async def test_admin_names_any_unit(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        body = await subscribe(routing_client, org.auth("admin"), URL, unit_code="DEPT-GD")
        assert body["unit_code"] == "DEPT-GD"

    async def test_liaison_cannot_subscribe_for_another_unit(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        response = await routing_client.post(
            SUBSCRIPTIONS,
            json={"url": URL, "event_types": ["*"], "unit_code": "DEPT-JT"},
            headers=org.auth("gh_liaison"),
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unit_not_found"

    async def test_unknown_unit(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(
            SUBSCRIPTIONS,
            json={"url": URL, "event_types": ["*"], "unit_code": "NOPE"},
            headers=org.auth("admin"),
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unit_not_found"

    async def test_unknown_event_type(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(
            SUBSCRIPTIONS,
            json={"url": URL, "event_types": ["card.dispatched", "card.exploded"]},
            headers=org.auth("jt_liaison"),
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "unknown_event_type"
        assert error["details"]["unknown"] == ["card.exploded"]
        assert error["message"]
        assert error["message_en"]

    @pytest.mark.parametrize(
        "payload",
        [
            {"url": "ftp://jt.example.gov.cn/hook", "event_types": ["*"]},
            {"url": "https://", "event_types": ["*"]},
            {"url": "https://jt.example.gov.cn/a b", "event_types": ["*"]},
            {"url": "https://jt.example.gov.cn:99999/", "event_types": ["*"]},
            {"url": "https://jt.example.gov.cn/" + "a" * 2000, "event_types": ["*"]},
            {"url": URL, "event_types": []},
            {"url": URL},
            {"url": URL, "event_types": ["*"], "secret": "mine"},
            {"url": URL, "event_types": ["*"], "description": "bad\x00text"},
        ],
    )
    async def test_invalid_input(
        self, routing_client: httpx.AsyncClient, org: Org, payload: dict[str, object]
    ) -> None:
        response = await routing_client.post(
            SUBSCRIPTIONS, json=payload, headers=org.auth("jt_liaison")
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_error"

    async def test_private_urls_refused_when_not_allowed(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "webhook_allow_loopback", False)
        for url in ("http://127.0.0.1:9000/hook", "http://localhost/hook", "http://10.1.2.3/",
                    "http://[::1]/hook", "http://2130706433/hook", "http://169.254.169.254/"):  # fmt: skip
            response = await routing_client.post(
                SUBSCRIPTIONS,
                json={"url": url, "event_types": ["*"]},
                headers=org.auth("jt_liaison"),
            )
            assert response.status_code == 422, url
            assert response.json()["error"]["code"] == "url_not_allowed"
        await subscribe(routing_client, org.auth("jt_liaison"), URL)

    @pytest.mark.parametrize("username", ["hs_dispatcher", "hs_operator", "auditor", "jw_officer"])
    async def test_roles_without_webhook_manage(
        self, routing_client: httpx.AsyncClient, org: Org, username: str
    ) -> None:
        response = await routing_client.post(
            SUBSCRIPTIONS, json={"url": URL, "event_types": ["*"]}, headers=org.auth(username)
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"

    async def test_needs_credentials(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(SUBSCRIPTIONS, json={"url": URL, "event_types": ["*"]})
        assert response.status_code == 401

    async def test_event_types_are_documented(self) -> None:
        assert "card.dispatched" in WEBHOOK_EVENT_TYPES
        assert "hot_issue.detected" in WEBHOOK_EVENT_TYPES
        assert "webhook.test" in WEBHOOK_EVENT_TYPES
        assert len(set(WEBHOOK_EVENT_TYPES)) == len(WEBHOOK_EVENT_TYPES) == 13


class TestScope:
    async def test_other_units_subscriptions_are_invisible(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        jt = await subscribe(routing_client, org.auth("jt_liaison"), URL)
        gh_key = await key_headers(routing_sessionmaker, "DEPT-GH")
        gh = await subscribe(routing_client, gh_key, "https://gh.example.gov.cn/hook")

        listed = await routing_client.get(SUBSCRIPTIONS, headers=gh_key)
        assert [item["id"] for item in listed.json()["items"]] == [gh["id"]]
        # Asking for another unit's list yields nothing rather than an error.
        other = await routing_client.get(
            SUBSCRIPTIONS, params={"unit_code": "DEPT-JT"}, headers=gh_key
        )
        assert other.json()["items"] == []

        for method, path in [
            ("GET", f"{SUBSCRIPTIONS}/{jt['id']}"),
            ("PATCH", f"{SUBSCRIPTIONS}/{jt['id']}"),
            ("DELETE", f"{SUBSCRIPTIONS}/{jt['id']}"),
            ("POST", f"{SUBSCRIPTIONS}/{jt['id']}/rotate-secret"),
            ("POST", f"{SUBSCRIPTIONS}/{jt['id']}/test"),
            ("POST", f"{SUBSCRIPTIONS}/{jt['id']}/replay-dead"),
            ("GET", f"{DELIVERIES}?subscription_id={jt['id']}"),
        ]:
            response = await routing_client.request(
                method, path, headers=gh_key, json={} if method == "PATCH" else None
            )
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "subscription_not_found"

        admin = await routing_client.get(SUBSCRIPTIONS, headers=org.auth("admin"))
        assert {item["id"] for item in admin.json()["items"]} == {jt["id"], gh["id"]}
        only_jt = await routing_client.get(
            SUBSCRIPTIONS, params={"unit_code": "DEPT-JT"}, headers=org.auth("admin")
        )
        assert [item["id"] for item in only_jt.json()["items"]] == [jt["id"]]

    async def test_other_units_deliveries_are_invisible(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        jt = await subscribe(routing_client, org.auth("jt_liaison"), URL)
        test = await routing_client.post(
            f"{SUBSCRIPTIONS}/{jt['id']}/test", headers=org.auth("jt_head")
        )
        assert test.status_code == 202
        delivery_id = test.json()["id"]
        gh_key = await key_headers(routing_sessionmaker, "DEPT-GH")

        assert (await routing_client.get(DELIVERIES, headers=gh_key)).json()["items"] == []
        for method, path in [
            ("GET", f"{DELIVERIES}/{delivery_id}"),
            ("POST", f"{DELIVERIES}/{delivery_id}/replay"),
        ]:
            response = await routing_client.request(method, path, headers=gh_key)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "delivery_not_found"
        listed = await routing_client.get(DELIVERIES, headers=org.auth("admin"))
        assert [item["id"] for item in listed.json()["items"]] == [delivery_id]

    async def test_unknown_ids(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        missing = uuid.uuid4()
        response = await routing_client.get(f"{SUBSCRIPTIONS}/{missing}", headers=org.auth("admin"))
        assert response.json()["error"]["code"] == "subscription_not_found"
        response = await routing_client.get(f"{DELIVERIES}/{missing}", headers=org.auth("admin"))
        assert response.json()["error"]["code"] == "delivery_not_found"
        response = await routing_client.get(
            f"{SUBSCRIPTIONS}/not-a-uuid", headers=org.auth("admin")
        )
        assert response.status_code == 422


class TestUpdateSubscription:
    async def test_patch_fields(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        headers = org.auth("jt_liaison")
        sub = await subscribe(routing_client, headers, URL, description="旧描述")
        path = f"{SUBSCRIPTIONS}/{sub['id']}"

        response = await routing_client.patch(
            path, json={"url": URL + "/v2", "event_types": ["card.redo"]}, headers=headers
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["url"], body["event_types"], body["description"]) == (
            URL + "/v2",
            ["card.redo"],
            "旧描述",
        )

        body = (
            await routing_client.patch(path, json={"description": None}, headers=headers)
        ).json()
        assert body["description"] is None
        assert body["url"] == URL + "/v2"

        response = await routing_client.patch(path, json={"event_types": ["nope"]}, headers=headers)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "unknown_event_type"
        response = await routing_client.patch(path, json={"url": "gopher://x"}, headers=headers)
        assert response.status_code == 422

    async def test_delete_deactivates_and_patch_restores(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        headers = org.auth("jt_liaison")
        sub = await subscribe(routing_client, headers, URL)
        path = f"{SUBSCRIPTIONS}/{sub['id']}"
        response = await routing_client.delete(path, headers=headers)
        assert response.status_code == 200
        assert response.json()["active"] is False
        assert (await routing_client.get(path, headers=headers)).json()["active"] is False
        listed = await routing_client.get(SUBSCRIPTIONS, params={"active": "true"}, headers=headers)
        assert listed.json()["items"] == []

        test = await routing_client.post(f"{path}/test", headers=headers)
        assert test.status_code == 409
        assert test.json()["error"]["code"] == "subscription_inactive"

        restored = await routing_client.patch(path, json={"active": True}, headers=headers)
        assert restored.json()["active"] is True

    async def test_rotate_secret(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        headers = org.auth("jt_head")
        sub = await subscribe(routing_client, headers, URL)
        response = await routing_client.post(
            f"{SUBSCRIPTIONS}/{sub['id']}/rotate-secret", headers=headers
        )
        assert response.status_code == 200
        secret = response.json()["secret"]
        assert secret.startswith("whsec_")
        assert secret != sub["secret"]

    async def test_subscriptions_per_unit_are_capped(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from routing_service.webhook import service

        monkeypatch.setattr(service, "MAX_SUBSCRIPTIONS_PER_UNIT", 2)
        headers = org.auth("jt_liaison")
        await subscribe(routing_client, headers, URL)
        await subscribe(routing_client, headers, URL)
        response = await routing_client.post(
            SUBSCRIPTIONS, json={"url": URL, "event_types": ["*"]}, headers=headers
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "too_many_subscriptions"


class TestTestAndDeliveries:
    async def test_test_message_is_queued_after_commit(
        self,
        routing_client: httpx.AsyncClient,
        org: Org,
        redis_client: Redis,
        routing_sessionmaker: AsyncSessionMaker,
    ) -> None:
        headers = org.auth("jt_liaison")
        sub = await subscribe(routing_client, headers, URL)
        response = await routing_client.post(f"{SUBSCRIPTIONS}/{sub['id']}/test", headers=headers)
        assert response.status_code == 202
        delivery = response.json()
        assert delivery["event_type"] == "webhook.test"
        assert delivery["status"] == "pending"
        assert delivery["message_id"].startswith("msg_")
        assert delivery["payload"]["type"] == "webhook.test"
        assert delivery["payload"]["data"]["unit_code"] == "DEPT-JT"
        assert f"whd:{delivery['id']}:0" in await queued_jobs(redis_client)

        async with routing_sessionmaker() as session:
            stored = (await session.scalars(select(WebhookDelivery))).all()
        assert [str(row.id) for row in stored] == [delivery["id"]]

    async def test_list_filters_and_detail(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        headers = org.auth("jt_liaison")
        first = await subscribe(routing_client, headers, URL)
        second = await subscribe(routing_client, headers, URL + "/2")
        ids = []
        for sub in (first, second, first):
            response = await routing_client.post(
                f"{SUBSCRIPTIONS}/{sub['id']}/test", headers=headers
            )
            ids.append(response.json()["id"])

        listed = (await routing_client.get(DELIVERIES, headers=headers)).json()["items"]
        assert [item["id"] for item in listed] == ids[::-1]
        assert "payload" not in listed[0]
        by_sub = await routing_client.get(
            DELIVERIES, params={"subscription_id": first["id"]}, headers=headers
        )
        assert {item["id"] for item in by_sub.json()["items"]} == {ids[0], ids[2]}
        dead = await routing_client.get(DELIVERIES, params={"status": "dead"}, headers=headers)
        assert dead.json()["items"] == []
        # The old offset parameter is refused rather than silently ignored.
        offset = await routing_client.get(DELIVERIES, params={"offset": 1}, headers=headers)
        assert offset.status_code == 422
        bad = await routing_client.get(DELIVERIES, params={"status": "lost"}, headers=headers)
        assert bad.status_code == 422
        bad = await routing_client.get(DELIVERIES, params={"limit": 0}, headers=headers)
        assert bad.status_code == 422

        detail = await routing_client.get(f"{DELIVERIES}/{ids[1]}", headers=headers)
        assert detail.status_code == 200
        assert detail.json()["payload"]["type"] == "webhook.test"
        assert detail.json()["subscription_id"] == second["id"]

    async def test_pending_delivery_cannot_be_replayed(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        headers = org.auth("jt_liaison")
        sub = await subscribe(routing_client, headers, URL)
        delivery = (
            await routing_client.post(f"{SUBSCRIPTIONS}/{sub['id']}/test", headers=headers)
        ).json()
        response = await routing_client.post(
            f"{DELIVERIES}/{delivery['id']}/replay", headers=headers
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "delivery_pending"

        replayed = await routing_client.post(
            f"{SUBSCRIPTIONS}/{sub['id']}/replay-dead", headers=headers
        )
        assert replayed.status_code == 202
        assert replayed.json() == {"replayed": 0}
