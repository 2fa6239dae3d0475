"""Webhook API schemas, and the event types department systems can subscribe to. What channel
subscriptions and every delivery look like is a contract with intake: :mod:`shared.webhooks`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from routing_service.models import OrgUnit, WebhookSubscription
from shared.enums import Channel
from shared.schemas.base import InputSchema, Schema
from shared.webhooks import (
    ANY_EVENT,
    CHANNEL_EVENT_TYPES,
    MAX_EVENT_TYPES,
    ChannelSubscriptionCreate,
    ChannelSubscriptionOut,
    ChannelSubscriptionUpdate,
    ChannelSubscriptionWithSecret,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    Description,
    EventType,
    ReplayResult,
    WebhookUrl,
)

__all__ = [
    "ANY_EVENT",
    "CHANNEL_EVENT_TYPES",
    "WEBHOOK_EVENT_TYPES",
    "ChannelSubscriptionCreate",
    "ChannelSubscriptionOut",
    "ChannelSubscriptionUpdate",
    "ChannelSubscriptionWithSecret",
    "DeliveryDetail",
    "DeliveryOut",
    "DeliveryStatus",
    "ReplayResult",
    "SubscriptionCreate",
    "SubscriptionOut",
    "SubscriptionUpdate",
    "SubscriptionWithSecret",
    "UnitCode",
    "channel_subscription_out",
    "channel_subscription_with_secret",
]

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
            unit_id=unit.id,
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


def channel_subscription_out(subscription: WebhookSubscription) -> ChannelSubscriptionOut:
    assert subscription.channel is not None, "a unit's subscription"
    return ChannelSubscriptionOut(
        id=subscription.id,
        channel=Channel(subscription.channel),
        url=subscription.url,
        event_types=list(subscription.event_types),
        active=subscription.active,
        description=subscription.description,
        created_at=subscription.created_at,
    )


def channel_subscription_with_secret(
    subscription: WebhookSubscription,
) -> ChannelSubscriptionWithSecret:
    base = channel_subscription_out(subscription)
    return ChannelSubscriptionWithSecret(**base.model_dump(), secret=subscription.secret)
