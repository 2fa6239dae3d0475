"""Webhook API schemas, and the event types department systems can subscribe to."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from routing_service.models import OrgUnit, WebhookSubscription
from shared.schemas.base import InputSchema, Schema
from shared.schemas.text import SingleLine

WEBHOOK_EVENT_TYPES: tuple[str, ...] = (
    "card.dispatched",
    "card.cancelled",
    "card.reminder",
    "card.supervised",
    "card.sent_back",
    "card.extension_decided",
    "card.redo",
    "card.suspended",
    "card.resumed",
    "case.supplemented",
    "webhook.test",
)
ANY_EVENT = "*"
MAX_EVENT_TYPES = 32


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"


def _check_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise PydanticCustomError("invalid_url", "URL 格式无效 / Malformed URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "invalid_url",
            "URL 须以 http:// 或 https:// 开头并包含主机名 / URL must be http(s) with a host",
        )
    if parts.fragment:
        raise PydanticCustomError(
            "invalid_url", "URL 不能包含片段(#) / URL must not have a fragment"
        )
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=8, max_length=2000, pattern=r"^[^\s]+$"),
    AfterValidator(_check_url),
    SingleLine,
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SingleLine]
EventType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
UnitCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z_\-]{1,32}$")
]


class SubscriptionCreate(InputSchema):
    unit_code: UnitCode | None = Field(
        None, description="The subscribing unit; defaults to the caller's own unit"
    )
    url: WebhookUrl
    event_types: list[EventType] = Field(
        min_length=1,
        max_length=MAX_EVENT_TYPES,
        description=f"Event types to receive, or ['*'] for all: {', '.join(WEBHOOK_EVENT_TYPES)}",
    )
    description: Description | None = None


class SubscriptionUpdate(InputSchema):
    """Fields left out stay as they are; ``description: null`` clears the description."""

    url: WebhookUrl | None = None
    event_types: list[EventType] | None = Field(None, min_length=1, max_length=MAX_EVENT_TYPES)
    active: bool | None = None
    description: Description | None = None


class SubscriptionOut(Schema):
    id: uuid.UUID
    unit_id: uuid.UUID
    unit_code: str
    url: str
    event_types: list[str]
    active: bool
    description: str | None
    created_at: datetime

    @classmethod
    def build(cls, subscription: WebhookSubscription, unit: OrgUnit) -> SubscriptionOut:
        return cls(
            id=subscription.id,
            unit_id=subscription.unit_id,
            unit_code=unit.code,
            url=subscription.url,
            event_types=list(subscription.event_types),
            active=subscription.active,
            description=subscription.description,
            created_at=subscription.created_at,
        )


class SubscriptionWithSecret(SubscriptionOut):
    """Returned once, when the subscription is created or its secret rotated."""

    secret: str = Field(description="Standard Webhooks signing secret (whsec_…); shown only once")

    @classmethod
    def with_secret(
        cls, subscription: WebhookSubscription, unit: OrgUnit
    ) -> SubscriptionWithSecret:
        base = SubscriptionOut.build(subscription, unit)
        return cls(**base.model_dump(), secret=subscription.secret)


class DeliveryOut(Schema):
    id: uuid.UUID
    subscription_id: uuid.UUID
    message_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]


class ReplayResult(Schema):
    replayed: int
