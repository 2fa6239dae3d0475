"""Helpers for webhook tests: a real receiver on a loopback port, and row shortcuts."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from jsonschema import Draft202012Validator
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from routing_service.models import WebhookDelivery, WebhookSubscription
from routing_service.webhook.service import webhook_service
from routing_service.webhook.signing import new_secret
from services.auth import service_token
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.webhooks import DEPARTMENT_EVENTS, UnitPayload, department_schemas, payload_schemas
from tests.fixtures.processes import free_port, wait_for_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers ``status`` (default 200) after ``delay`` seconds, except
    that the statuses in ``script`` are used first, one per request."""

    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(Received(request.url.path, dict(request.headers), body))
        code = self.script.pop(0) if self.script else self.status
        if self.delay:
            await asyncio.sleep(self.delay)
        return Response(f"status {code}", status_code=code, headers=self.headers)

    def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


async def subscribe(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    event_types: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks/subscriptions",
        json={"url": url, "event_types": event_types or ["*"], **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_due(sessionmaker: AsyncSessionMaker, delivery_id: uuid.UUID | str) -> None:
    """Pretend the retry's wait is over."""
    async with sessionmaker() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == uuid.UUID(str(delivery_id)))
            .values(next_attempt_at=utcnow())
        )
        await session.commit()


async def load(sessionmaker: AsyncSessionMaker, delivery_id: uuid.UUID | str) -> WebhookDelivery:
    async with sessionmaker() as session:
        delivery = await session.get(WebhookDelivery, uuid.UUID(str(delivery_id)))
        assert delivery is not None
        return delivery


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


async def add_subscription(
    sessionmaker: AsyncSessionMaker,
    unit_id: uuid.UUID,
    event_types: list[str] | None = None,
    *,
    url: str = "https://example.gov.cn/hook",
    active: bool = True,
) -> WebhookSubscription:
    async with sessionmaker() as session:
        subscription = WebhookSubscription(
            unit_id=unit_id,
            url=url,
            secret=new_secret(),
            event_types=event_types or ["*"],
            active=active,
        )
        session.add(subscription)
        await session.commit()
        return subscription


def sample(event_type: str = "card.dispatched", **changes: Any) -> Any:
    """A valid payload of a department event: its published example's ``data``, changed."""
    (spec,) = [s for s in DEPARTMENT_EVENTS if s.event_type == event_type]
    (schema,) = [s for s in department_schemas() if s.type == event_type]
    example = schema.json_schema["examples"][0]["data"]
    return spec.data.model_validate({**example, **changes})


async def notify(
    sessionmaker: AsyncSessionMaker,
    unit_id: uuid.UUID,
    event_type: str = "card.dispatched",
    data: UnitPayload | None = None,
) -> list[uuid.UUID]:
    """Write deliveries and commit, without the after-commit fast path."""
    async with sessionmaker() as session:
        payload = data if data is not None else sample(event_type)
        deliveries = await webhook_service.notify_unit(session, unit_id, event_type, payload)
        await session.commit()
        return [delivery.id for delivery in deliveries]


def service_headers(service: str = "intake") -> dict[str, str]:
    """What the intake service sends when it manages a channel's subscriptions."""
    return {"Authorization": f"Bearer {service_token(service)}"}


async def add_channel_subscription(
    sessionmaker: AsyncSessionMaker,
    channel: str,
    event_types: list[str] | None = None,
    *,
    url: str = "https://example.gov.cn/channel-hook",
    active: bool = True,
) -> WebhookSubscription:
    async with sessionmaker() as session:
        subscription = WebhookSubscription(
            channel=channel,
            url=url,
            secret=new_secret(),
            event_types=event_types or ["*"],
            active=active,
        )
        session.add(subscription)
        await session.commit()
        return subscription


async def channel_deliveries(
    sessionmaker: AsyncSessionMaker, subscription_id: uuid.UUID | None = None
) -> list[WebhookDelivery]:
    """Every delivery to a channel-owned subscription (of one, if given), oldest first."""
    async with sessionmaker() as session:
        stmt = (
            select(WebhookDelivery)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookSubscription.channel.is_not(None))
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
        if subscription_id is not None:
            stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
        return list((await session.scalars(stmt)).all())


def payload_validator(
    event_type: str, version: int = 1, *, department: bool = False
) -> Draft202012Validator:
    """A validator for the published JSON Schema of one channel (or department) message."""
    published = department_schemas() if department else payload_schemas()
    (schema,) = [s for s in published if s.type == event_type and s.schema_version == version]
    Draft202012Validator.check_schema(schema.json_schema)
    return Draft202012Validator(schema.json_schema)
