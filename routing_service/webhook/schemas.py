"""Webhook API schemas, and the event types department systems can subscribe to. The payload
of every event, what channel subscriptions and every delivery look like are contracts:
:mod:`shared.webhooks`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from routing_service.models import OrgUnit, WebhookSubscription
from services.models import utcnow
from shared.enums import Channel
from shared.schemas.base import InputSchema, Instant, Schema
from shared.webhooks import (
    ANY_EVENT,
    CHANNEL_EVENT_TYPES,
    MAX_EVENT_TYPES,
    PREVIOUS_SECRET_UNTIL,
    UNIT_EVENT_TYPES,
    ChannelSubscriptionCreate,
    ChannelSubscriptionFilters,
    ChannelSubscriptionOut,
    ChannelSubscriptionUpdate,
    ChannelSubscriptionWithSecret,
    DeliveryDetail,
    DeliveryFilters,
    DeliveryOut,
    DeliveryStatus,
    Description,
    EventType,
    PayloadSchema,
    ReplayResult,
    WebhookUrl,
)

__all__ = [
    "ANY_EVENT",
    "CHANNEL_EVENT_TYPES",
    "WEBHOOK_EVENT_TYPES",
    "ChannelSubscriptionCreate",
    "ChannelSubscriptionFilters",
    "ChannelSubscriptionOut",
    "ChannelSubscriptionUpdate",
    "ChannelSubscriptionWithSecret",
    "DeliveryDetail",
    "DeliveryFilters",
    "DeliveryOut",
    "DeliveryStatus",
    "PayloadSchema",
    "ReplayResult",
    "SubscriptionCreate",
    "SubscriptionFilters",
    "SubscriptionOut",
    "SubscriptionUpdate",
    "SubscriptionWithSecret",
    "UnitCode",
    "channel_subscription_out",
    "channel_subscription_with_secret",
]

WEBHOOK_EVENT_TYPES: tuple[str, ...] = UNIT_EVENT_TYPES
UnitCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z_\-]{1,32}$")
]


class SubscriptionFilters(ChannelSubscriptionFilters):
    """Units' subscriptions, oldest first."""

    unit_code: UnitCode | None = Field(None, description="Only this unit's (admins: any unit)")


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
    created_at: Instant

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
    previous_secret_until: Instant | None = Field(None, description=PREVIOUS_SECRET_UNTIL)

    @classmethod
    def with_secret(
        cls, subscription: WebhookSubscription, unit: OrgUnit
    ) -> SubscriptionWithSecret:
        base = SubscriptionOut.build(subscription, unit)
        return cls(
            **base.model_dump(),
            secret=subscription.secret,
            previous_secret_until=previous_secret_until(subscription),
        )


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
    return ChannelSubscriptionWithSecret(
        **base.model_dump(),
        secret=subscription.secret,
        previous_secret_until=previous_secret_until(subscription),
    )


def previous_secret_until(subscription: WebhookSubscription) -> datetime | None:
    """Until when the previous secret still signs alongside the current one, if it does."""
    until = subscription.previous_secret_until
    if subscription.previous_secret is None or until is None or until <= utcnow():
        return None
    return until
