"""Notifications through the original channel (原渠道反馈), end to end: a channel backend
subscribes with its channel key on intake, routing delivers the status changes of that channel's
requests as Standard Webhooks, and no channel ever reaches another's subscriptions."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from intake_service.issue.repository import IssueRepository
from intake_service.spec import spec as intake_spec
from routing_service.config import settings as routing_settings
from routing_service.spec import spec as routing_spec
from routing_service.webhook.tasks import deliver_webhook
from services.db import AsyncSessionMaker
from services.settings import common_settings
from tests.fixtures.org import Org
from tests.fixtures.processes import free_port
from tests.fixtures.pump import pump
from tests.intake_service.issue.test_endpoints import submission, valid_uscc
from tests.routing_service.assignment.helpers import ok, verify_and_dispatch
from tests.routing_service.webhook.helpers import Receiver, channel_deliveries, load, make_due

Ctx = dict[str, Any]
USCC = valid_uscc()
WHISTLEBLOWER = {"kind": "enterprise", "name": "王小明", "phone": "13912345678", "uscc": USCC,
                 "enterprise_name": "邯郸市举报人商贸有限公司", "email": "wang@example.cn"}  # fmt: skip


def key(raw: str) -> dict[str, str]:
    return {"X-API-Key": raw}


async def subscribe(
    client: httpx.AsyncClient, raw_key: str, url: str, **extra: Any
) -> dict[str, Any]:
    body = {"url": url, **extra}
    created: dict[str, Any] = await ok(
        await client.post("/v1/channel/webhooks", json=body, headers=key(raw_key)), 201
    )
    return created


async def submit(client: httpx.AsyncClient, raw_key: str, **overrides: Any) -> str:
    receipt = await ok(
        await client.post("/v1/requests", json=submission(**overrides), headers=key(raw_key)), 201
    )
    return str(receipt["tracking_no"])


async def to_routing(
    intake_sessionmaker: AsyncSessionMaker, routing_sessionmaker: AsyncSessionMaker
) -> None:
    await pump(intake_sessionmaker, intake_spec, "routing", routing_sessionmaker)


async def deliver_pending(ctx: Ctx, routing_sessionmaker: AsyncSessionMaker) -> list[str]:
    outcomes = []
    for delivery in await channel_deliveries(routing_sessionmaker):
        if delivery.status == "pending":
            outcomes.append(await deliver_webhook(ctx, str(delivery.id)))
    return outcomes


async def validators(client: httpx.AsyncClient) -> dict[str, Draft202012Validator]:
    """The published schemas, fetched as a channel developer would (no key needed)."""
    found = {}
    for item in await ok(await client.get("/v1/channel/webhooks/schemas")):
        Draft202012Validator.check_schema(item["schema"])
        found[item["type"]] = Draft202012Validator(item["schema"])
    return found


class TestSubscribeAndReceive:
    async def test_a_channel_receives_and_verifies_its_own_requests_status_changes(
        self,
        intake: httpx.AsyncClient,
        routing_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        routing_sessionmaker: AsyncSessionMaker,
        ctx: Ctx,
        receiver: Receiver,
        org: Org,
        app_key: str,
        hotline_key: str,
    ) -> None:
        schemas = await validators(intake)
        app_sub = await subscribe(intake, app_key, receiver.url("/app"), description="手机APP")
        hotline_sub = await subscribe(intake, hotline_key, receiver.url("/hotline"))
        assert (app_sub["channel"], hotline_sub["channel"]) == ("app", "hotline")
        assert app_sub["secret"].startswith("whsec_")
        assert app_sub["event_types"] == ["request.status_changed"]
        listed = (await ok(await intake.get("/v1/channel/webhooks", headers=key(app_key))))["items"]
        assert [s["id"] for s in listed] == [app_sub["id"]]
        assert "secret" not in listed[0]

        complaint = await submit(intake, app_key)
        report = await submit(intake, app_key, type="report", title="窗口人员吃拿卡要",
                              description="办理备案时工作人员暗示要好处费。", submitter=WHISTLEBLOWER)  # fmt: skip
        by_phone = await submit(intake, hotline_key, channel="hotline", title="路灯不亮",
                                description="工业园区东路一段路灯连续三晚不亮,夜间通行不便。",
                                submitter={"kind": "person", "name": "李四", "phone": "13700001111"})  # fmt: skip
        await to_routing(intake_sessionmaker, routing_sessionmaker)
        case = await ok(await routing_client.get(f"/v1/cases/by-tracking/{complaint}",
                                                 headers=org.auth("hs_operator")))  # fmt: skip
        await verify_and_dispatch(routing_client, org, case["id"])
        assert set(await deliver_pending(ctx, routing_sessionmaker)) == {"delivered"}

        received: dict[str, list[dict[str, Any]]] = {"/app": [], "/hotline": []}
        for request in receiver.requests:
            secret = app_sub["secret"] if request.path == "/app" else hotline_sub["secret"]
            other = hotline_sub["secret"] if request.path == "/app" else app_sub["secret"]
            payload = Webhook(secret).verify(request.body, request.headers)
            with pytest.raises(WebhookVerificationError):
                Webhook(other).verify(request.body, request.headers)
            schemas[payload["type"]].validate(payload)
            received[request.path].append(payload["data"])
            # Not even the masked form of the whistleblower's identity.
            body = request.body.decode()
            for value in (*[v for k, v in WHISTLEBLOWER.items() if k != "kind"], "139****5678"):
                assert value not in body, value
                assert json.dumps(value)[1:-1] not in body, value  # nor \u-escaped
            for field in ("submitter", "name", "phone", "uscc", "email", "enterprise_name"):
                assert f'"{field}"' not in body

        # Only its own channel's requests, each of them.
        assert {d["tracking_no"] for d in received["/app"]} == {complaint, report}
        assert [d["tracking_no"] for d in received["/hotline"]] == [by_phone]
        of_complaint = [d for d in received["/app"] if d["tracking_no"] == complaint]
        assert [d["status"] for d in of_complaint] == ["verifying", "verifying", "dispatched"]
        dispatched = of_complaint[-1]
        assert dispatched["status_label"] == "已派单"
        assert dispatched["agency_responsible"] == org.units["DEPT-JT"].name
        assert dispatched["expected_at"] is not None
        assert dispatched["schema_version"] == 1

        # What the channel received is what the submitter sees.
        await pump(routing_sessionmaker, routing_spec, "intake", intake_sessionmaker)
        async with intake_sessionmaker() as session:
            issue = await IssueRepository.from_session(session).get_by_tracking_no(complaint)
            assert issue is not None
            assert (issue.status, issue.agency_responsible) == ("dispatched", dispatched["agency_responsible"])  # fmt: skip

        # Each channel lists its own deliveries only.
        app_deliveries = (
            await ok(await intake.get("/v1/channel/deliveries", headers=key(app_key)))
        )["items"]
        assert len(app_deliveries) == len(received["/app"])
        assert {d["subscription_id"] for d in app_deliveries} == {app_sub["id"]}
        of_sub = (await ok(await intake.get(f"/v1/channel/webhooks/{app_sub['id']}/deliveries",
                                           params={"status": "delivered"}, headers=key(app_key))))["items"]  # fmt: skip
        assert sorted(d["id"] for d in of_sub) == sorted(d["id"] for d in app_deliveries)
        detail = await ok(await intake.get(f"/v1/channel/deliveries/{of_sub[0]['id']}",
                                           headers=key(app_key)))  # fmt: skip
        schemas["request.status_changed"].validate(detail["payload"])

    async def test_dead_letter_and_replay_through_the_channel_api(
        self,
        intake: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        routing_sessionmaker: AsyncSessionMaker,
        ctx: Ctx,
        receiver: Receiver,
        org: Org,
        app_key: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(routing_settings, "webhook_max_attempts", 2)
        receiver.status = 503
        sub = await subscribe(intake, app_key, receiver.url())
        await submit(intake, app_key)
        await to_routing(intake_sessionmaker, routing_sessionmaker)
        (delivery,) = await channel_deliveries(routing_sessionmaker)
        assert await deliver_webhook(ctx, str(delivery.id)) == "retry"
        await make_due(routing_sessionmaker, delivery.id)
        assert await deliver_webhook(ctx, str(delivery.id)) == "dead"

        dead = (await ok(await intake.get(f"/v1/channel/webhooks/{sub['id']}/deliveries",
                                          params={"status": "dead"}, headers=key(app_key))))["items"]  # fmt: skip
        assert [(d["id"], d["attempts"], d["last_status_code"]) for d in dead] == [
            (str(delivery.id), 2, 503)
        ]
        receiver.status = 200
        replayed = await ok(await intake.post(f"/v1/channel/deliveries/{delivery.id}/replay",
                                              headers=key(app_key)), 202)  # fmt: skip
        assert (replayed["status"], replayed["attempts"]) == ("pending", 0)
        conflict = await intake.post(
            f"/v1/channel/deliveries/{delivery.id}/replay", headers=key(app_key)
        )
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "delivery_pending"
        assert await deliver_webhook(ctx, str(delivery.id)) == "delivered"
        assert (await load(routing_sessionmaker, delivery.id)).status == "delivered"
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        last = receiver.requests[-1]
        assert (
            Webhook(sub["secret"]).verify(last.body, last.headers)["type"]
            == "request.status_changed"
        )

        # A rotated secret signs the next attempt; replay-dead sends every dead one again.
        rotated = await ok(await intake.post(f"/v1/channel/webhooks/{sub['id']}/rotate-secret",
                                             headers=key(app_key)))  # fmt: skip
        assert rotated["secret"] != sub["secret"]
        again = await ok(await intake.post(f"/v1/channel/webhooks/{sub['id']}/replay-dead",
                                           headers=key(app_key)), 202)  # fmt: skip
        assert again == {"replayed": 0}
        test = await ok(await intake.post(f"/v1/channel/webhooks/{sub['id']}/test",
                                          headers=key(app_key)), 202)  # fmt: skip
        assert await deliver_webhook(ctx, test["id"]) == "delivered"
        message = receiver.requests[-1]
        payload = Webhook(rotated["secret"]).verify(message.body, message.headers)
        (await validators(intake))["webhook.test"].validate(payload)


class TestIsolation:
    async def test_another_channels_subscription_and_deliveries_answer_404(
        self,
        intake: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        routing_sessionmaker: AsyncSessionMaker,
        org: Org,
        app_key: str,
        hotline_key: str,
    ) -> None:
        sub = await subscribe(intake, app_key, "https://app.example.cn/hook")
        await submit(intake, app_key)
        await to_routing(intake_sessionmaker, routing_sessionmaker)
        (delivery,) = await channel_deliveries(routing_sessionmaker)

        theirs = key(hotline_key)
        one = f"/v1/channel/webhooks/{sub['id']}"
        calls = [
            intake.get(one, headers=theirs),
            intake.patch(one, json={"url": "https://evil.example.cn/steal"}, headers=theirs),
            intake.delete(one, headers=theirs),
            intake.post(f"{one}/rotate-secret", headers=theirs),
            intake.post(f"{one}/test", headers=theirs),
            intake.post(f"{one}/replay-dead", headers=theirs),
            intake.get(f"{one}/deliveries", headers=theirs),
            intake.get(
                "/v1/channel/deliveries", params={"subscription_id": sub["id"]}, headers=theirs
            ),
            intake.get(f"/v1/channel/deliveries/{delivery.id}", headers=theirs),
            intake.post(f"/v1/channel/deliveries/{delivery.id}/replay", headers=theirs),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 404, response.text
            error = response.json()["error"]
            assert error["code"] in ("subscription_not_found", "delivery_not_found")
            assert error["message"].startswith("未找到")
            assert error["message_en"].startswith("No such")
        assert (await ok(await intake.get("/v1/channel/webhooks", headers=theirs)))["items"] == []
        assert (await ok(await intake.get("/v1/channel/deliveries", headers=theirs)))["items"] == []

        # Untouched: same URL, still active, the secret it was created with still signs.
        mine = await ok(await intake.get(one, headers=key(app_key)))
        assert (mine["url"], mine["active"]) == ("https://app.example.cn/hook", True)
        assert (await load(routing_sessionmaker, delivery.id)).status == "pending"

    async def test_the_channel_is_the_keys_never_the_bodys(
        self, intake: httpx.AsyncClient, app_key: str, channel_key: str, org: Org
    ) -> None:
        smuggled = await intake.post("/v1/channel/webhooks", headers=key(app_key),
                                     json={"url": "https://app.example.cn/hook", "channel": "hotline"})  # fmt: skip
        assert smuggled.status_code == 422
        # A development key valid for every channel owns no channel's notifications.
        everywhere = await intake.get("/v1/channel/webhooks", headers=key(channel_key))
        assert everywhere.status_code == 403
        assert everywhere.json()["error"]["code"] == "channel_key_required"
        assert everywhere.json()["error"]["message_en"]
        for headers in ({}, org.auth("admin"), key("ys_00000000_not-a-key")):
            refused = await intake.get("/v1/channel/webhooks", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"


class TestErrors:
    async def test_bad_input_is_a_bilingual_4xx(
        self, intake: httpx.AsyncClient, app_key: str
    ) -> None:
        malformed = await intake.post("/v1/channel/webhooks", headers=key(app_key),
                                      json={"url": "ftp://app.example.cn/hook"})  # fmt: skip
        assert malformed.status_code == 422
        assert malformed.json()["error"]["code"] == "validation_error"
        unit_event = await intake.post("/v1/channel/webhooks", headers=key(app_key),
                                       json={"url": "https://app.example.cn/hook", "event_types": ["card.dispatched"]})  # fmt: skip
        assert unit_event.status_code == 422
        error = unit_event.json()["error"]
        assert error["code"] == "unknown_event_type"
        assert error["message"].startswith("未知的事件类型")
        assert "card.dispatched" in error["message_en"]
        assert error["details"]["known"] == ["request.status_changed", "webhook.test", "*"]
        unknown = await intake.get("/v1/channel/webhooks/not-a-uuid", headers=key(app_key))
        assert unknown.status_code == 422

    async def test_routing_unreachable_is_a_503_never_a_500(
        self, intake_client: httpx.AsyncClient, app_key: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Nothing listens there: a real connection refused.
        monkeypatch.setattr(common_settings(), "routing_url", f"http://127.0.0.1:{free_port()}")
        for response in (
            await intake_client.get("/v1/channel/webhooks", headers=key(app_key)),
            await intake_client.post("/v1/channel/webhooks", headers=key(app_key),
                                     json={"url": "https://app.example.cn/hook"}),
        ):  # fmt: skip
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "service_unavailable"
            assert error["message"] == "派单督办服务暂不可用,请稍后重试"
            assert error["message_en"] == "The routing service is unavailable, retry later"


async def test_the_schemas_are_public_and_describe_every_channel_message(
    intake_client: httpx.AsyncClient,
) -> None:
    items = await ok(await intake_client.get("/v1/channel/webhooks/schemas"))
    assert [(i["type"], i["schema_version"]) for i in items] == [
        ("request.status_changed", 1),
        ("webhook.test", 1),
    ]
    for item in items:
        schema = item["schema"]
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    status_changed = Draft202012Validator(items[0]["schema"])
    good: dict[str, Any] = {"type": "request.status_changed", "timestamp": "2026-12-07T09:30:00.000Z", "data": {
        "schema_version": 1, "tracking_no": "YS2612070001", "channel": "app", "status": "in_progress",
        "status_label": "办理中", "agency_responsible": "区交通运输局",
        "expected_at": "2026-12-14T09:30:00Z", "expected_provisional": False,
        "note": "已签收", "changed_at": "2026-12-07T09:30:00Z"}}  # fmt: skip
    status_changed.validate(good)
    # Closed: an identity field, a time without its offset or not in UTC, an unknown status
    # are all refused.
    for bad in (
        {**good["data"], "submitter": {"name": "张三"}},
        {**good["data"], "expected_at": "2026-12-14T17:30:00"},
        {**good["data"], "expected_at": "2026-12-14T17:30:00+08:00"},
        {**good["data"], "status": "lost"},
        {**good["data"], "schema_version": 2},
    ):
        assert not status_changed.is_valid({**good, "data": bad}), bad
