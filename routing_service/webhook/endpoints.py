"""Department webhook subscriptions and their deliveries (DESIGN §6).

Admins manage every unit's subscriptions; department staff (liaison, head) and department API
keys manage their own unit's. Anything outside the caller's scope answers 404, like something
that does not exist.

Under ``/v1/webhooks/channels/{channel}/…`` the intake service (role ``service``) manages the
subscriptions a channel's backend holds (原渠道反馈), for the channel of the key it verified;
another channel's subscriptions and deliveries answer 404 there, and units' are not reachable.

Both sets of endpoints are the same operations of :class:`WebhookService` for a different
:class:`~routing_service.webhook.service.Owner`, which their dependency builds once access is
granted; each endpoint only declares its contract and renders the result.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from routing_service.auth import CurrentPrincipal
from routing_service.webhook.schemas import (
    ChannelSubscriptionCreate,
    ChannelSubscriptionOut,
    ChannelSubscriptionUpdate,
    ChannelSubscriptionWithSecret,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    ReplayResult,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionUpdate,
    SubscriptionWithSecret,
    UnitCode,
)
from routing_service.webhook.service import ChannelOwner, UnitScope, webhook_service
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize
from shared.enums import Channel

router = APIRouter(prefix="/v1", tags=["webhook"])


async def webhook_manager(principal: CurrentPrincipal) -> UnitScope:
    """The units whose subscriptions the caller manages."""
    authorize(principal, "webhook.manage")
    return UnitScope(principal)


WebhookManager = Annotated[UnitScope, Depends(webhook_manager)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
StatusFilter = Annotated[DeliveryStatus | None, Query(alias="status")]


@router.post(
    "/webhooks/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionWithSecret,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Subscribe a unit's system to events (the secret is shown only here)",
)
async def create_subscription(
    data: SubscriptionCreate, session: SessionDep, units: WebhookManager
) -> SubscriptionWithSecret:
    return units.with_secret(await webhook_service.create_subscription(session, units, data))


@router.get(
    "/webhooks/subscriptions",
    response_model=list[SubscriptionOut],
    responses=error_responses(401, 403, 422),
    summary="List subscriptions (your unit's; every unit's for admins)",
)
async def list_subscriptions(
    session: SessionDep,
    units: WebhookManager,
    unit_code: UnitCode | None = None,
    active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[SubscriptionOut]:
    rows = await webhook_service.list_subscriptions(
        session, units.of_unit(unit_code), active=active, limit=limit, offset=offset
    )
    return [units.out(row) for row in rows]


@router.get(
    "/webhooks/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One subscription",
)
async def get_subscription(
    subscription_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> SubscriptionOut:
    return units.out(await webhook_service.get_subscription(session, units, subscription_id))


@router.patch(
    "/webhooks/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Change the URL, event types, description, or (de)activate",
)
async def update_subscription(
    subscription_id: uuid.UUID,
    data: SubscriptionUpdate,
    session: SessionDep,
    units: WebhookManager,
) -> SubscriptionOut:
    updated = await webhook_service.update_subscription(session, units, subscription_id, data)
    return units.out(updated)


@router.delete(
    "/webhooks/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Deactivate a subscription (kept with its deliveries; PATCH active=true restores it)",
)
async def delete_subscription(
    subscription_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> SubscriptionOut:
    return units.out(await webhook_service.deactivate(session, units, subscription_id))


@router.post(
    "/webhooks/subscriptions/{subscription_id}/rotate-secret",
    response_model=SubscriptionWithSecret,
    responses=error_responses(401, 403, 404, 422),
    summary="Replace the signing secret (the new one is shown only here)",
)
async def rotate_secret(
    subscription_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> SubscriptionWithSecret:
    return units.with_secret(await webhook_service.rotate_secret(session, units, subscription_id))


@router.post(
    "/webhooks/subscriptions/{subscription_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send a webhook.test message (follow it with GET /v1/webhooks/deliveries/{id})",
)
async def send_test(subscription_id: uuid.UUID, session: SessionDep, units: WebhookManager) -> Any:
    return await webhook_service.send_test(session, units, subscription_id)


@router.post(
    "/webhooks/subscriptions/{subscription_id}/replay-dead",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayResult,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send every dead-lettered delivery of a subscription again",
)
async def replay_dead(
    subscription_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> ReplayResult:
    return ReplayResult(replayed=await webhook_service.replay_dead(session, units, subscription_id))


@router.get(
    "/webhooks/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(401, 403, 404, 422),
    summary="List deliveries, newest first",
)
async def list_deliveries(
    session: SessionDep,
    units: WebhookManager,
    subscription_id: uuid.UUID | None = None,
    status_filter: StatusFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    return await webhook_service.list_deliveries(
        session,
        units,
        subscription_id=subscription_id,
        status=status_filter,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/webhooks/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One delivery, with its payload",
)
async def get_delivery(delivery_id: uuid.UUID, session: SessionDep, units: WebhookManager) -> Any:
    return (await webhook_service.get_delivery(session, units, delivery_id))[0]


@router.post(
    "/webhooks/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send a delivered or dead-lettered delivery again (same message id)",
)
async def replay_delivery(
    delivery_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> Any:
    return await webhook_service.replay_delivery(session, units, delivery_id)


# --- subscriptions owned by a channel, for the intake service --------------------------------


async def channel_manager(principal: CurrentPrincipal, channel: Channel) -> ChannelOwner:
    """The channel whose subscriptions the (service) caller manages."""
    authorize(principal, "webhook.channel.manage")
    return ChannelOwner(channel.value)


ChannelManager = Annotated[ChannelOwner, Depends(channel_manager)]
CHANNEL_PREFIX = "/webhooks/channels/{channel}"


@router.post(
    f"{CHANNEL_PREFIX}/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelSubscriptionWithSecret,
    responses=error_responses(401, 403, 409, 422),
    summary="Subscribe a channel's backend (service callers; the secret is shown only here)",
)
async def create_channel_subscription(
    data: ChannelSubscriptionCreate, session: SessionDep, channel: ChannelManager
) -> ChannelSubscriptionWithSecret:
    return channel.with_secret(await webhook_service.create_subscription(session, channel, data))


@router.get(
    f"{CHANNEL_PREFIX}/subscriptions",
    response_model=list[ChannelSubscriptionOut],
    responses=error_responses(401, 403, 422),
    summary="A channel's subscriptions (service callers)",
)
async def list_channel_subscriptions(
    session: SessionDep,
    channel: ChannelManager,
    active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[ChannelSubscriptionOut]:
    rows = await webhook_service.list_subscriptions(
        session, channel, active=active, limit=limit, offset=offset
    )
    return [channel.out(row) for row in rows]


@router.get(
    f"{CHANNEL_PREFIX}/subscriptions/{{subscription_id}}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One of a channel's subscriptions (service callers)",
)
async def get_channel_subscription(
    subscription_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> ChannelSubscriptionOut:
    return channel.out(await webhook_service.get_subscription(session, channel, subscription_id))


@router.patch(
    f"{CHANNEL_PREFIX}/subscriptions/{{subscription_id}}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Change a channel's subscription (service callers)",
)
async def update_channel_subscription(
    subscription_id: uuid.UUID,
    data: ChannelSubscriptionUpdate,
    session: SessionDep,
    channel: ChannelManager,
) -> ChannelSubscriptionOut:
    updated = await webhook_service.update_subscription(session, channel, subscription_id, data)
    return channel.out(updated)


@router.delete(
    f"{CHANNEL_PREFIX}/subscriptions/{{subscription_id}}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Deactivate a channel's subscription (service callers)",
)
async def delete_channel_subscription(
    subscription_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> ChannelSubscriptionOut:
    return channel.out(await webhook_service.deactivate(session, channel, subscription_id))


@router.post(
    f"{CHANNEL_PREFIX}/subscriptions/{{subscription_id}}/rotate-secret",
    response_model=ChannelSubscriptionWithSecret,
    responses=error_responses(401, 403, 404, 422),
    summary="Replace a channel subscription's signing secret (service callers)",
)
async def rotate_channel_secret(
    subscription_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> ChannelSubscriptionWithSecret:
    rotated = await webhook_service.rotate_secret(session, channel, subscription_id)
    return channel.with_secret(rotated)


@router.post(
    f"{CHANNEL_PREFIX}/subscriptions/{{subscription_id}}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send a webhook.test message to a channel's subscription (service callers)",
)
async def send_channel_test(
    subscription_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> Any:
    return await webhook_service.send_test(session, channel, subscription_id)


@router.post(
    f"{CHANNEL_PREFIX}/subscriptions/{{subscription_id}}/replay-dead",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayResult,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send every dead-lettered delivery of a channel's subscription again",
)
async def replay_channel_dead(
    subscription_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> ReplayResult:
    replayed = await webhook_service.replay_dead(session, channel, subscription_id)
    return ReplayResult(replayed=replayed)


@router.get(
    f"{CHANNEL_PREFIX}/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(401, 403, 404, 422),
    summary="A channel's deliveries, newest first (service callers)",
)
async def list_channel_deliveries(
    session: SessionDep,
    channel: ChannelManager,
    subscription_id: uuid.UUID | None = None,
    status_filter: StatusFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    return await webhook_service.list_deliveries(
        session,
        channel,
        subscription_id=subscription_id,
        status=status_filter,
        limit=limit,
        offset=offset,
    )


@router.get(
    f"{CHANNEL_PREFIX}/deliveries/{{delivery_id}}",
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One of a channel's deliveries, with its payload (service callers)",
)
async def get_channel_delivery(
    delivery_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> Any:
    return (await webhook_service.get_delivery(session, channel, delivery_id))[0]


@router.post(
    f"{CHANNEL_PREFIX}/deliveries/{{delivery_id}}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send one of a channel's delivered or dead-lettered deliveries again",
)
async def replay_channel_delivery(
    delivery_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> Any:
    return await webhook_service.replay_delivery(session, channel, delivery_id)
