"""Subscriptions owned by a channel (原渠道反馈): the status changes of a channel's requests go
to that channel's subscriptions only, through the same deliveries, signing, retries, dead
letters, replay and sweep as departments' webhooks, and name nobody."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook

from routing_service.config import settings
from routing_service.models import ApiKey, WebhookDelivery, WebhookSubscription
from routing_service.webhook.service import webhook_service
from routing_service.webhook.tasks import deliver_webhook, sweep_webhooks
from services.db import AsyncSessionMaker
from shared.enums import Channel, RequestStatus, RequestType, SubmitterKind
from shared.events import SubmitterInfo
from shared.webhooks import REQUEST_STATUS_CHANGED, payload_schemas
from tests.fixtures.clients import make_key
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, key_headers, ok, verify_and_dispatch
from tests.routing_service.webhook.helpers import (
    Receiver,
    add_channel_subscription,
    add_subscription,
    channel_deliveries,
    load,
    make_due,
    payload_validator,
    service_headers,
)

Ctx = dict[str, Any]
APP = "/v1/webhooks/channels/app"
HOTLINE = "/v1/webhooks/channels/hotline"

# A whistleblower's identity, as intake holds it (routing only ever receives it masked).
WHISTLEBLOWER = SubmitterInfo(
    kind=SubmitterKind.enterprise,
    name="王小明",
    phone="13912345678",
    uscc="91130404MA0CTE1N1X",
    enterprise_name="邯郸市举报人商贸有限公司",
)
MASKED = SubmitterInfo(
    kind=SubmitterKind.enterprise,
    name="王**",
    phone="139****5678",
    uscc="9113************1X",
    enterprise_name="邯郸市***有限公司",
    masked=True,
)


def names_nobody(body: str, *identities: SubmitterInfo) -> None:
    for identity in identities:
        for value in (identity.name, identity.phone, identity.uscc, identity.enterprise_name):
            assert value is not None
            assert value not in body, value
    for key in ("submitter", "name", "phone", "uscc", "enterprise_name", "email"):
        assert f'"{key}"' not in body, key


async def subscribe_channel(
    client: httpx.AsyncClient, prefix: str, url: str, **extra: Any
) -> dict[str, Any]:
    body = {"url": url, **extra}
    created: dict[str, Any] = await ok(
        await client.post(f"{prefix}/subscriptions", json=body, headers=service_headers()), 201
    )
    return created


class TestProducer:
    async def test_a_status_change_goes_to_its_own_channels_subscriptions_only(
        self, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        app_any = await add_channel_subscription(routing_sessionmaker, "app", ["*"])
        app_exact = await add_channel_subscription(
            routing_sessionmaker, "app", [REQUEST_STATUS_CHANGED]
        )
        await add_channel_subscription(routing_sessionmaker, "app", ["webhook.test"])
        await add_channel_subscription(routing_sessionmaker, "app", ["*"], active=False)
        hotline = await add_channel_subscription(routing_sessionmaker, "hotline", ["*"])
        await add_subscription(routing_sessionmaker, org.units["HS"].id, ["*"])  # a unit's

        from_app = "YS2612APP0000001"
        await arrive(routing_sessionmaker, channel=Channel.app, tracking_no=from_app)
        deliveries = await channel_deliveries(routing_sessionmaker)
        assert sorted(d.subscription_id for d in deliveries) == sorted([app_any.id, app_exact.id])
        async with routing_sessionmaker() as session:
            every = (await session.scalars(select(WebhookDelivery))).all()
        assert len(every) == 2  # nothing for the unit's "*": a status change is no unit event

        await arrive(routing_sessionmaker, channel=Channel.hotline, tracking_no="YS2612HOT0000001")
        to_hotline = await channel_deliveries(routing_sessionmaker, hotline.id)
        assert [d.payload["data"]["tracking_no"] for d in to_hotline] == ["YS2612HOT0000001"]
        for subscription in (app_any, app_exact):
            of_app = await channel_deliveries(routing_sessionmaker, subscription.id)
            assert [d.payload["data"]["tracking_no"] for d in of_app] == [from_app]

        validator = payload_validator(REQUEST_STATUS_CHANGED)
        for delivery in await channel_deliveries(routing_sessionmaker):
            validator.validate(delivery.payload)
            assert delivery.event_type == REQUEST_STATUS_CHANGED
            data = delivery.payload["data"]
            assert data["schema_version"] == 1
            assert (data["status"], data["status_label"]) == ("verifying", "核查中")
            assert data["status_label"] == RequestStatus.verifying.label_zh
            assert data["note"] == "中心核查中"

    async def test_a_confidential_reports_messages_name_nobody(
        self,
        org: Org,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
    ) -> None:
        app = await add_channel_subscription(routing_sessionmaker, "app")
        # Even if an unmasked identity reached routing, no message would carry it.
        for submitter in (MASKED, WHISTLEBLOWER):
            case_id = await arrive(
                routing_sessionmaker,
                channel=Channel.app,
                type=RequestType.report,
                confidential=True,
                anonymous=True,
                submitter=submitter,
            )
            await verify_and_dispatch(routing_client, org, case_id)

        deliveries = await channel_deliveries(routing_sessionmaker, app.id)
        statuses = [d.payload["data"]["status"] for d in deliveries]
        # received (核查中), verified (still 核查中, with the center's note), dispatched
        assert statuses == ["verifying", "verifying", "dispatched"] * 2, statuses
        validator = payload_validator(REQUEST_STATUS_CHANGED)
        for delivery in deliveries:
            validator.validate(delivery.payload)
            names_nobody(json.dumps(delivery.payload, ensure_ascii=False), WHISTLEBLOWER, MASKED)
        dispatched = deliveries[2].payload["data"]
        assert dispatched["agency_responsible"] == org.units["DEPT-JT"].name
        assert dispatched["status_label"] == RequestStatus.dispatched.label_zh
        # RFC 3339 with an offset, whatever the receiver's time zone.
        assert datetime.fromisoformat(dispatched["expected_at"]).tzinfo is not None
        assert isinstance(dispatched["expected_provisional"], bool)

    async def test_a_transaction_reads_a_channels_subscriptions_once(
        self, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        await add_channel_subscription(routing_sessionmaker, "app")
        reads: list[str] = []
        engine = routing_sessionmaker.kw["bind"].sync_engine

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "FROM webhook_subscription" in statement:
                reads.append(statement)

        data = payload_schemas()[0].json_schema["examples"][0]["data"]  # a dict: validated
        event.listen(engine, "before_cursor_execute", record)
        try:
            async with routing_sessionmaker() as session:
                for channel in ("app", "app", "hotline", "app"):
                    await webhook_service.notify_channel(
                        session, channel, REQUEST_STATUS_CHANGED, data
                    )
                await session.commit()
                assert len(reads) == 2  # app, hotline
                # A new transaction sees subscriptions as they are now.
                await webhook_service.notify_channel(session, "app", REQUEST_STATUS_CHANGED, data)
                await session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert len(reads) == 3
        assert len(await channel_deliveries(routing_sessionmaker)) == 4

    async def test_unit_events_are_not_channel_events(
        self, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with routing_sessionmaker() as session:
            with pytest.raises(ValueError, match="card.dispatched"):
                await webhook_service.notify_channel(session, "app", "card.dispatched", {})

    @pytest.mark.parametrize("owner", ["both", "neither"])
    async def test_a_subscription_has_exactly_one_owner(
        self, owner: str, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with routing_sessionmaker() as session:
            session.add(
                WebhookSubscription(
                    unit_id=org.units["DEPT-JT"].id if owner == "both" else None,
                    channel="app" if owner == "both" else None,
                    url="https://example.gov.cn/hook",
                    secret="whsec_x",
                    event_types=["*"],
                )
            )
            with pytest.raises(IntegrityError, match="one_owner"):
                await session.commit()


class TestDelivery:
    async def test_retried_dead_lettered_and_replayed_like_any_webhook(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "webhook_max_attempts", 2)
        receiver.status = 500
        sub = await subscribe_channel(routing_client, APP, receiver.url("/app"))
        assert sub["event_types"] == [REQUEST_STATUS_CHANGED]  # the default
        await arrive(routing_sessionmaker, channel=Channel.app)
        (delivery,) = await channel_deliveries(routing_sessionmaker)

        assert await deliver_webhook(ctx, str(delivery.id)) == "retry"
        await make_due(routing_sessionmaker, delivery.id)
        assert await deliver_webhook(ctx, str(delivery.id)) == "dead"
        dead = await ok(await routing_client.get(f"{APP}/deliveries", params={"status": "dead"},
                                                 headers=service_headers()))  # fmt: skip
        assert [d["id"] for d in dead["items"]] == [str(delivery.id)]

        receiver.status = 200
        await redis_client.flushdb()
        replayed = await ok(await routing_client.post(f"{APP}/deliveries/{delivery.id}/replay",
                                                      headers=service_headers()), 202)  # fmt: skip
        assert (replayed["status"], replayed["attempts"]) == ("pending", 0)
        queued = [job.decode() for job in await redis_client.zrange("routing", 0, -1)]
        assert f"whd:{delivery.id}:0" in queued  # the fast path, as for a unit's
        # Redis loses the job: the sweep finds it, as it finds every delivery's.
        await redis_client.flushdb()
        assert await sweep_webhooks(ctx) == 1
        assert await deliver_webhook(ctx, str(delivery.id)) == "delivered"

        assert len(receiver.requests) == 3
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        last = receiver.requests[-1]
        payload = Webhook(sub["secret"]).verify(last.body, last.headers)
        assert payload == (await load(routing_sessionmaker, delivery.id)).payload
        payload_validator(REQUEST_STATUS_CHANGED).validate(payload)

    async def test_gone_deactivates_a_channels_subscription(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
    ) -> None:
        receiver.status = 410
        sub = await subscribe_channel(routing_client, APP, receiver.url())
        await arrive(routing_sessionmaker, channel=Channel.app)
        (delivery,) = await channel_deliveries(routing_sessionmaker)
        assert await deliver_webhook(ctx, str(delivery.id)) == "dead"
        stored = await ok(
            await routing_client.get(f"{APP}/subscriptions/{sub['id']}", headers=service_headers())
        )
        assert stored["active"] is False
        await arrive(routing_sessionmaker, channel=Channel.app)
        assert len(await channel_deliveries(routing_sessionmaker)) == 1  # nothing new for it


class TestServiceEndpoints:
    async def test_only_services_manage_channel_subscriptions(
        self, org: Org, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        unit_key = key_headers(await make_key(routing_sessionmaker, ApiKey, "DEPT-JT"))
        for headers in (org.auth("admin"), org.auth("jt_liaison"), unit_key):
            response = await routing_client.get(f"{APP}/subscriptions", headers=headers)
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "forbidden"
        assert (await routing_client.get(f"{APP}/subscriptions")).status_code == 401
        listed = await routing_client.get(f"{APP}/subscriptions", headers=service_headers())
        assert listed.status_code == 200
        unknown = await routing_client.get(
            "/v1/webhooks/channels/fax/subscriptions", headers=service_headers()
        )
        assert unknown.status_code == 422

    async def test_another_channels_subscriptions_and_deliveries_answer_404(
        self, org: Org, receiver: Receiver, routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
    ) -> None:  # fmt: skip
        sub = await subscribe_channel(routing_client, APP, receiver.url())
        await arrive(routing_sessionmaker, channel=Channel.app)
        (delivery,) = await channel_deliveries(routing_sessionmaker)
        headers = service_headers()
        one = f"{HOTLINE}/subscriptions/{sub['id']}"
        calls = [
            routing_client.get(one, headers=headers),
            routing_client.patch(one, json={"description": "x"}, headers=headers),
            routing_client.delete(one, headers=headers),
            routing_client.post(f"{one}/rotate-secret", headers=headers),
            routing_client.post(f"{one}/test", headers=headers),
            routing_client.post(f"{one}/replay-dead", headers=headers),
            routing_client.get(f"{HOTLINE}/deliveries", params={"subscription_id": sub["id"]},
                               headers=headers),
            routing_client.get(f"{HOTLINE}/deliveries/{delivery.id}", headers=headers),
            routing_client.post(f"{HOTLINE}/deliveries/{delivery.id}/replay", headers=headers),
        ]  # fmt: skip
        for call in calls:
            response = await call
            assert response.status_code == 404, response.text
            error = response.json()["error"]
            assert error["code"] in ("subscription_not_found", "delivery_not_found")
            assert error["message"]
            assert error["message_en"]
        for listing in ("subscriptions", "deliveries"):
            page = await ok(await routing_client.get(f"{HOTLINE}/{listing}", headers=headers))
            assert (page["items"], page["next_cursor"]) == ([], None)
        # Nothing changed.
        stored = await ok(
            await routing_client.get(f"{APP}/subscriptions/{sub['id']}", headers=headers)
        )
        assert (stored["active"], stored["description"]) == (True, None)  # fmt: skip
        assert (await load(routing_sessionmaker, delivery.id)).status == "pending"

    async def test_units_and_channels_do_not_see_each_others(
        self, org: Org, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        channel_sub = await subscribe_channel(routing_client, APP, "https://app.example.cn/hook")
        unit_sub = await add_subscription(routing_sessionmaker, org.units["DEPT-JT"].id)
        await arrive(routing_sessionmaker, channel=Channel.app)
        (channel_delivery,) = await channel_deliveries(routing_sessionmaker)
        admin = org.auth("admin")

        listed = await ok(await routing_client.get("/v1/webhooks/subscriptions", headers=admin))
        assert [s["id"] for s in listed["items"]] == [str(unit_sub.id)]
        own = f"/v1/webhooks/subscriptions/{channel_sub['id']}"
        assert (await routing_client.get(own, headers=admin)).status_code == 404
        deliveries = await ok(await routing_client.get("/v1/webhooks/deliveries", headers=admin))
        assert deliveries["items"] == []
        detail = f"/v1/webhooks/deliveries/{channel_delivery.id}"
        assert (await routing_client.get(detail, headers=admin)).status_code == 404
        assert (await routing_client.post(f"{detail}/replay", headers=admin)).status_code == 404

        unit_one = f"{APP}/subscriptions/{unit_sub.id}"
        assert (await routing_client.get(unit_one, headers=service_headers())).status_code == 404

    async def test_manage_a_channels_subscription(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        headers = service_headers()
        refused = await routing_client.post(f"{APP}/subscriptions", headers=headers,
                                            json={"url": "https://a.cn/h", "event_types": ["card.dispatched"]})  # fmt: skip
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "unknown_event_type"
        assert error["message"].startswith("未知的事件类型")
        assert error["message_en"]
        assert error["details"]["known"] == ["request.status_changed", "webhook.test", "*"]

        sub = await subscribe_channel(routing_client, APP, "https://app.example.cn/hook",
                                      event_types=["*"], description="手机APP")  # fmt: skip
        assert (sub["channel"], sub["event_types"], sub["secret"][:6]) == ("app", ["*"], "whsec_")
        one = f"{APP}/subscriptions/{sub['id']}"
        assert "secret" not in await ok(await routing_client.get(one, headers=headers))
        patched = await ok(await routing_client.patch(one, headers=headers,
                                                      json={"url": "https://app.example.cn/v2", "description": None}))  # fmt: skip
        assert (patched["url"], patched["description"]) == ("https://app.example.cn/v2", None)
        rotated = await ok(await routing_client.post(f"{one}/rotate-secret", headers=headers))
        assert rotated["secret"] != sub["secret"]

        test = await ok(await routing_client.post(f"{one}/test", headers=headers), 202)
        assert test["event_type"] == "webhook.test"
        payload_validator("webhook.test").validate(test["payload"])
        assert test["payload"]["data"]["channel"] == "app"

        assert (await ok(await routing_client.delete(one, headers=headers)))["active"] is False
        inactive = await routing_client.post(f"{one}/test", headers=headers)
        assert inactive.status_code == 409
        restored = await ok(await routing_client.patch(one, headers=headers, json={"active": True}))
        assert restored["active"] is True
        async with routing_sessionmaker() as session:
            stored = await session.get(WebhookSubscription, uuid.UUID(sub["id"]))
            assert stored is not None
            assert (stored.channel, stored.unit_id) == ("app", None)
