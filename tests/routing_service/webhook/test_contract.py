"""The webhook contract (issue 16): every payload a real flow sends validates against its
published schema; a rotation keeps the old secret signing alongside the new one for a window
(verified with the official Standard Webhooks libraries, Python and JavaScript); lists are
cursor pages; creates answer 201 with ``Location``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from routing_service.app import app as routing_app
from routing_service.assignment.repository import CaseRepository
from routing_service.assignment.service import case_service
from routing_service.config import settings as routing_settings
from routing_service.deadline.supervision import supervision_service
from routing_service.models import ApiKey, WebhookDelivery, WebhookSubscription
from routing_service.webhook.tasks import deliver_webhook
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.events import RequestSupplemented, RequestWithdrawn
from shared.webhooks import UNIT_EVENT_TYPES
from tests.fixtures.clients import make_key
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, key_headers, ok, verify_and_dispatch
from tests.routing_service.webhook.helpers import (
    Receiver,
    add_subscription,
    service_headers,
    subscribe,
)

Ctx = dict[str, Any]
SUBSCRIPTIONS = "/v1/webhooks/subscriptions"
DELIVERIES = "/v1/webhooks/deliveries"


async def published(client: httpx.AsyncClient) -> dict[str, Draft202012Validator]:
    """The department schemas as an integrator fetches them: no credentials."""
    found = {}
    for item in await ok(await client.get("/v1/webhooks/schemas")):
        Draft202012Validator.check_schema(item["schema"])
        validator = Draft202012Validator(item["schema"])
        for example in item["schema"]["examples"]:
            validator.validate(example)
        found[item["type"]] = validator
    return found


async def deliveries_of(
    sessionmaker: AsyncSessionMaker, subscription_id: uuid.UUID
) -> list[WebhookDelivery]:
    async with sessionmaker() as session:
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == subscription_id)
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
        return list((await session.scalars(stmt)).all())


class TestPublishedSchemas:
    async def test_every_department_event_has_a_public_schema_with_an_example(
        self, routing_client: httpx.AsyncClient
    ) -> None:
        items = await ok(await routing_client.get("/v1/webhooks/schemas"))
        assert [(i["type"], i["schema_version"]) for i in items] == [
            (t, 1) for t in UNIT_EVENT_TYPES
        ]
        for item in items:
            assert item["summary"]
            schema = item["schema"]
            assert schema["$id"] == f"urn:yingshang:webhook:department:{item['type']}:v1"
            (example,) = schema["examples"]
            assert example["data"]["schema_version"] == 1
            assert "+00:00" not in json.dumps(example)
            validator = Draft202012Validator(schema)
            assert not validator.is_valid({**example, "data": {**example["data"], "extra": 1}})
        await published(routing_client)

    def test_the_openapi_lists_every_event_with_its_message_model(self) -> None:
        spec = routing_app.openapi()
        assert spec["openapi"].startswith("3.1")
        assert sorted(spec["webhooks"]) == sorted(UNIT_EVENT_TYPES)
        for event_type, item in spec["webhooks"].items():
            operation = item["post"]
            assert len(operation["tags"]) == 1
            assert operation["description"]
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body["$ref"].startswith("#/components/schemas/"), event_type
        payload = spec["components"]["schemas"]["DeliveryDetail"]["properties"]["payload"]
        assert len(payload["anyOf"]) == 15  # every department and channel message


class TestEveryFlowSendsItsPublishedShape:
    async def test_each_call_site_validates_against_its_schema(
        self,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        org: Org,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        schemas = await published(routing_client)
        jt = org.units["DEPT-JT"]
        subscription = await add_subscription(routing_sessionmaker, jt.id, ["*"])
        jt_key = key_headers(await make_key(routing_sessionmaker, ApiKey, "DEPT-JT"))
        supervisor, dispatcher = org.auth("hs_supervisor"), org.auth("hs_dispatcher")

        case_id = await arrive(routing_sessionmaker)
        card_id = (await verify_and_dispatch(routing_client, org, case_id))["cards"][0]["id"]
        card = f"/v1/cards/{card_id}"
        await ok(await routing_client.post(f"{card}/suspend", headers=supervisor,
                                           json={"reason": "诉求人联系不上", "kind": "unreachable"}))  # fmt: skip
        await ok(await routing_client.post(f"{card}/resume", headers=supervisor))
        await ok(await routing_client.post(f"{card}/sign", headers=jt_key))
        # The ladder, far past the due date: the yellow reminder, the red and listed cards.
        async with routing_sessionmaker() as session:
            await supervision_service.tick(session, utcnow() + timedelta(days=60))
            await session.commit()
        extension = await ok(await routing_client.post(f"{card}/extensions", headers=jt_key,
                                                       json={"days": 3, "reason": "需协调公交公司"}), 201)  # fmt: skip
        await ok(await routing_client.post(f"{card}/extensions/{extension['id']}/decide",
                                           headers=supervisor, json={"approve": True, "note": "同意"}))  # fmt: skip
        for accept in (False, True, True):
            await ok(await routing_client.post(f"{card}/complete", headers=jt_key,
                                               json={"result": "已增开公交班次"}))  # fmt: skip
            await ok(await routing_client.post(f"{card}/review", headers=dispatcher,
                                               json={"accept": accept, "note": "请补充时刻表"}))  # fmt: skip
            if accept:
                # The second redo escalates (card.supervised, level escalated).
                await ok(await routing_client.post(f"/v1/cases/{case_id}/redo", headers=supervisor,
                                                   json={"reason": "企业不满意:班次仍不够"}))  # fmt: skip
        async with routing_sessionmaker() as session:
            stored = await CaseRepository.from_session(session).get(case_id)
            assert stored is not None
            request_id, tracking_no = stored.request_id, stored.tracking_no
        async with routing_sessionmaker() as session:
            await case_service.supplement(session, RequestSupplemented(
                request_id=request_id, tracking_no=tracking_no, text="补充:早晚高峰尤其拥挤",
                attachments=["https://files.example.cn/1.jpg"], supplemented_at=utcnow()))  # fmt: skip
            await session.commit()
        async with routing_sessionmaker() as session:
            await case_service.withdraw(session, RequestWithdrawn(
                request_id=request_id, tracking_no=tracking_no, reason="问题已解决",
                withdrawn_at=utcnow()))  # fmt: skip
            await session.commit()
        await ok(await routing_client.post(f"{SUBSCRIPTIONS}/{subscription.id}/test",
                                           headers=org.auth("admin")), 202)  # fmt: skip
        # The department's answer in the knowledge base about to expire.
        from datetime import date

        from routing_service.knowledge.service import knowledge_service
        from tests.routing_service.knowledge.test_knowledge import draft, publish

        soon = (date.today() + timedelta(days=5)).isoformat()
        article = await draft(routing_client, org, valid_until=soon)
        await publish(routing_client, org, article["id"])
        async with routing_sessionmaker() as session:
            await knowledge_service.warn_expiring(session)
            await session.commit()
        # A street's center hears of a hot cluster (five bus requests from five enterprises).
        from shared.enums import SubmitterKind
        from shared.events import Location, SubmitterInfo
        from tests.routing_service.radar.test_radar import BUS
        from tests.routing_service.radar.test_radar import arrive as arrive_and_place

        street = await add_subscription(routing_sessionmaker, org.units["HS-GM"].id, ["*"])
        for n, (title, text) in enumerate(BUS[:5]):
            await arrive_and_place(routing_sessionmaker, title=title, description=text,
                         location=Location(area_code="HS-GM-C1"),
                         submitter=SubmitterInfo(kind=SubmitterKind.person, phone=f"1371234{n:04d}"))  # fmt: skip

        sent = [
            *await deliveries_of(routing_sessionmaker, subscription.id),
            *await deliveries_of(routing_sessionmaker, street.id),
        ]
        assert {d.event_type for d in sent} == set(UNIT_EVENT_TYPES)
        levels = {d.payload["data"].get("level") for d in sent}
        assert {"yellow", "red", "listed", "escalated"} <= levels
        for delivery in sent:
            schemas[delivery.event_type].validate(delivery.payload)
            assert delivery.payload["type"] == delivery.event_type
            assert "+00:00" not in json.dumps(delivery.payload), delivery.event_type
            assert "+08:00" not in json.dumps(delivery.payload), delivery.event_type
        # What the API shows is the same body.
        detail = await ok(await routing_client.get(f"{DELIVERIES}/{sent[0].id}",
                                                   headers=org.auth("admin")))  # fmt: skip
        schemas["card.dispatched"].validate(detail["payload"])


# ------------------------------------------------------------------ rotation window


async def rotated_delivery(
    routing_client: httpx.AsyncClient,
    routing_sessionmaker: AsyncSessionMaker,
    ctx: Ctx,
    receiver: Receiver,
    org: Org,
) -> tuple[str, dict[str, Any], Any]:
    """Subscribe, rotate, send a test: the old secret, the new one, the request received."""
    headers = org.auth("jt_liaison")
    created = await subscribe(routing_client, headers, receiver.url())
    rotated = await ok(
        await routing_client.post(f"{SUBSCRIPTIONS}/{created['id']}/rotate-secret", headers=headers)
    )
    test = await ok(
        await routing_client.post(f"{SUBSCRIPTIONS}/{created['id']}/test", headers=headers), 202
    )
    assert await deliver_webhook(ctx, test["id"]) == "delivered"
    return created["secret"], rotated, receiver.requests[-1]


class TestRotationWindow:
    async def test_both_secrets_sign_during_the_window_then_only_the_new_one(
        self,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        ctx: Ctx,
        receiver: Receiver,
        org: Org,
    ) -> None:
        old, rotated, request = await rotated_delivery(
            routing_client, routing_sessionmaker, ctx, receiver, org
        )
        new = rotated["secret"]
        assert new != old
        until = rotated["previous_secret_until"]
        assert until is not None
        window = routing_settings.webhook_rotation_overlap
        assert window == 24 * 3600
        signatures = request.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2
        assert all(s.startswith("v1,") for s in signatures)
        # The official library accepts the message with either secret, and not with another.
        for secret in (old, new):
            assert Webhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)

        # After the window: only the new secret signs.
        async with routing_sessionmaker() as session:
            await session.execute(
                update(WebhookSubscription)
                .where(WebhookSubscription.id == uuid.UUID(rotated["id"]))
                .values(previous_secret_until=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        headers = org.auth("jt_liaison")
        test = await ok(
            await routing_client.post(f"{SUBSCRIPTIONS}/{rotated['id']}/test", headers=headers),
            202,
        )
        assert await deliver_webhook(ctx, test["id"]) == "delivered"
        after = receiver.requests[-1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(after.body, after.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(after.body, after.headers)

    async def test_no_overlap_is_a_hard_cut(
        self,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        ctx: Ctx,
        receiver: Receiver,
        org: Org,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(routing_settings, "webhook_rotation_overlap", 0)
        old, rotated, request = await rotated_delivery(
            routing_client, routing_sessionmaker, ctx, receiver, org
        )
        assert rotated["previous_secret_until"] is None
        Webhook(rotated["secret"]).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(request.body, request.headers)

    async def test_a_channel_subscription_rotates_the_same_way(
        self,
        routing_client: httpx.AsyncClient,
        ctx: Ctx,
        receiver: Receiver,
    ) -> None:
        base = "/v1/webhooks/channels/app/subscriptions"
        created = await ok(await routing_client.post(base, json={"url": receiver.url()},
                                                     headers=service_headers()), 201)  # fmt: skip
        rotated = await ok(await routing_client.post(f"{base}/{created['id']}/rotate-secret",
                                                     headers=service_headers()))  # fmt: skip
        assert rotated["previous_secret_until"] is not None
        test = await ok(await routing_client.post(f"{base}/{created['id']}/test",
                                                  headers=service_headers()), 202)  # fmt: skip
        assert await deliver_webhook(ctx, test["id"]) == "delivered"
        request = receiver.requests[-1]
        for secret in (created["secret"], rotated["secret"]):
            Webhook(secret).verify(request.body, request.headers)


JS_VERIFY = """
const { Webhook } = require("standardwebhooks");
const [body, headersJson, ...secrets] = process.argv.slice(2);
const headers = JSON.parse(headersJson);
for (const secret of secrets) {
  const payload = new Webhook(secret.replace(/^whsec_/, "")).verify(body, headers);
  if (payload.type !== "webhook.test") throw new Error("unexpected type " + payload.type);
}
console.log("verified " + secrets.length);
"""


def _js_package() -> Path:
    """The official JavaScript package, installed once into a cache directory."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "yingshang-standardwebhooks-js"
    )
    if not (cache / "node_modules" / "standardwebhooks").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), "standardwebhooks"],
                check=True, capture_output=True, timeout=180,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"npm install standardwebhooks failed (no network?): {exc}")
    return cache


@pytest.mark.slow
async def test_the_official_js_library_verifies_with_either_secret(
    routing_client: httpx.AsyncClient,
    routing_sessionmaker: AsyncSessionMaker,
    ctx: Ctx,
    receiver: Receiver,
    org: Org,
) -> None:
    cache = _js_package()
    old, rotated, request = await rotated_delivery(
        routing_client, routing_sessionmaker, ctx, receiver, org
    )
    script = cache / "verify.js"
    script.write_text(JS_VERIFY)
    headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
    result = subprocess.run(
        ["node", str(script), request.body.decode(), json.dumps(headers), old, rotated["secret"]],
        capture_output=True, text=True, timeout=60, cwd=cache,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "verified 2"
    wrong = subprocess.run(
        ["node", str(script), request.body.decode(), json.dumps(headers), "whsec_" + "A" * 43 + "="],
        capture_output=True, text=True, timeout=60, cwd=cache,
    )  # fmt: skip
    assert wrong.returncode != 0


# ------------------------------------------------------------------ pages and Location


class TestPagesAndLocation:
    async def test_subscriptions_and_deliveries_page_by_cursor(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        headers = org.auth("jt_liaison")
        created = []
        for n in range(3):
            response = await routing_client.post(
                SUBSCRIPTIONS,
                json={"url": f"https://jt.example.gov.cn/hook/{n}", "event_types": ["*"]},
                headers=headers,
            )
            assert response.status_code == 201
            body = response.json()
            assert response.headers["location"] == f"{SUBSCRIPTIONS}/{body['id']}"
            fetched = await ok(
                await routing_client.get(response.headers["location"], headers=headers)
            )
            assert fetched["id"] == body["id"]
            created.append(body["id"])

        for limit in (1, 2):
            seen: list[str] = []
            cursor = None
            pages = 0
            while True:
                params: dict[str, Any] = {"limit": limit, "with_total": True}
                if cursor:
                    params["cursor"] = cursor
                page = await ok(
                    await routing_client.get(SUBSCRIPTIONS, params=params, headers=headers)
                )
                assert page["total"] == 3
                assert page["limit"] == limit
                assert len(page["items"]) <= limit
                seen += [item["id"] for item in page["items"]]
                pages += 1
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == created  # oldest first, each once
            assert pages == (3 if limit == 1 else 2)

        first = await ok(
            await routing_client.get(SUBSCRIPTIONS, params={"limit": 1}, headers=headers)
        )
        assert first["total"] is None
        tampered = first["next_cursor"][:-2] + (
            "AA" if not first["next_cursor"].endswith("AA") else "BB"
        )
        refused = await routing_client.get(
            SUBSCRIPTIONS, params={"cursor": tampered}, headers=headers
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_cursor"
        # A cursor belongs to its query: another filter refuses it.
        other = await routing_client.get(
            SUBSCRIPTIONS,
            params={"cursor": first["next_cursor"], "active": "false"},
            headers=headers,
        )
        assert other.status_code == 400
        assert other.json()["error"]["code"] == "cursor_query_mismatch"

        for sub in created:
            await ok(await routing_client.post(f"{SUBSCRIPTIONS}/{sub}/test", headers=headers), 202)
        one = await ok(await routing_client.get(DELIVERIES, params={"limit": 2}, headers=headers))
        two = await ok(await routing_client.get(
            DELIVERIES, params={"limit": 2, "cursor": one["next_cursor"]}, headers=headers))  # fmt: skip
        assert two["next_cursor"] is None
        ids = [d["subscription_id"] for d in one["items"] + two["items"]]
        assert ids == created[::-1]  # newest first

    async def test_a_channel_subscription_has_a_location_too(
        self, routing_client: httpx.AsyncClient
    ) -> None:
        base = "/v1/webhooks/channels/app/subscriptions"
        response = await routing_client.post(
            base, json={"url": "https://app.example.cn/hook"}, headers=service_headers()
        )
        assert response.status_code == 201
        assert response.headers["location"] == f"{base}/{response.json()['id']}"
