"""Department webhook subscriptions and their deliveries (DESIGN §6).

Admins manage every unit's subscriptions; department staff (liaison, head) and department API
keys manage their own unit's. Anything outside the caller's scope answers 404, like something
that does not exist. What each event's message looks like is public: ``GET /v1/webhooks/schemas``
and the OpenAPI ``webhooks`` section (:func:`services.openapi.register_webhook_events`).

Under ``/v1/webhooks/channels/{channel}/…`` the intake service (role ``service``) manages the
subscriptions a channel's backend holds (原渠道反馈), for the channel of the key it verified;
another channel's subscriptions and deliveries answer 404 there, and units' are not reachable.

Both sets of endpoints are the same operations of :class:`WebhookService` for a different
:class:`~routing_service.webhook.service.Owner`, which their dependency builds once access is
granted; each endpoint only declares its contract and renders the result. Lists are cursor
pages (``limit``, ``cursor``, ``with_total``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from routing_service.auth import CurrentPrincipal
from routing_service.models import WebhookDelivery
from routing_service.webhook.schemas import (
    ChannelSubscriptionCreate,
    ChannelSubscriptionFilters,
    ChannelSubscriptionOut,
    ChannelSubscriptionUpdate,
    ChannelSubscriptionWithSecret,
    DeliveryDetail,
    DeliveryFilters,
    DeliveryOut,
    PayloadSchema,
    ReplayResult,
    SubscriptionCreate,
    SubscriptionFilters,
    SubscriptionOut,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)
from routing_service.webhook.service import ChannelOwner, UnitScope, webhook_service
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize
from services.responses import set_location
from shared.enums import Channel
from shared.schemas.page import CursorPage
from shared.webhooks import department_schemas

router = APIRouter(prefix="/v1", tags=["webhook"])


async def webhook_manager(principal: CurrentPrincipal) -> UnitScope:
    """The units whose subscriptions the caller manages."""
    authorize(principal, "webhook.manage")
    return UnitScope(principal)


WebhookManager = Annotated[UnitScope, Depends(webhook_manager)]


def _detail(delivery: WebhookDelivery) -> DeliveryDetail:
    return DeliveryDetail.model_validate(delivery)


def _deliveries(
    found: tuple[list[WebhookDelivery], str | None, int | None], limit: int
) -> CursorPage[DeliveryOut]:
    rows, next_cursor, total = found
    return CursorPage[DeliveryOut](
        items=[DeliveryOut.model_validate(row) for row in rows],
        next_cursor=next_cursor,
        limit=limit,
        total=total,
    )


@router.get(
    "/webhooks/schemas",
    response_model=list[PayloadSchema],
    summary="JSON Schema of each message a unit's subscription receives, by type and version",
)
async def list_webhook_schemas() -> list[PayloadSchema]:
    """The published JSON Schema (draft 2020-12, with an example) of every department event's
    message body, by event type and ``schema_version``. Public: no credentials needed."""
    return department_schemas()


@router.post(
    "/webhooks/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionWithSecret,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Subscribe a unit's system to events (the secret is shown only here)",
)
async def create_subscription(
    data: SubscriptionCreate,
    session: SessionDep,
    units: WebhookManager,
    request: Request,
    response: Response,
) -> SubscriptionWithSecret:
    """Subscribe a unit's system (the caller's own unit unless an admin names another) to
    event types; answers 201 with ``Location`` and the signing secret, shown only here.
    Admins, department liaisons and heads, and department API keys may call it."""
    created = units.with_secret(await webhook_service.create_subscription(session, units, data))
    set_location(response, request, "get_subscription", subscription_id=created.id)
    return created


@router.get(
    "/webhooks/subscriptions",
    response_model=CursorPage[SubscriptionOut],
    responses=error_responses(400, 401, 403, 422),
    summary="List subscriptions (your unit's; every unit's for admins), oldest first",
)
async def list_subscriptions(
    session: SessionDep,
    units: WebhookManager,
    filters: Annotated[SubscriptionFilters, Query()],
) -> CursorPage[SubscriptionOut]:
    """One cursor page of the subscriptions in the caller's scope (an admin's: every unit's),
    oldest first; pass ``next_cursor`` back as ``cursor`` for the next page. Secrets are never
    listed."""
    rows, next_cursor, total = await webhook_service.list_subscriptions(
        session, units.of_unit(filters.unit_code), filters, active=filters.active
    )
    return CursorPage[SubscriptionOut](
        items=[units.out(row) for row in rows],
        next_cursor=next_cursor,
        limit=filters.limit,
        total=total,
    )


@router.get(
    "/webhooks/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One subscription",
)
async def get_subscription(
    subscription_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> SubscriptionOut:
    """One subscription in the caller's scope (without its secret); any other is a 404."""
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
    """Change what the body names and nothing else; activating again is refused (409) when
    the unit already has its maximum of active subscriptions."""
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
    """Deactivate a subscription: it is kept with its deliveries, and its pending deliveries
    are dead-lettered when their turn comes (PATCH ``active=true`` restores it)."""
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
    """A new signing secret, shown only here. The replaced one keeps signing alongside it
    until ``previous_secret_until`` (``ROUTING_WEBHOOK_ROTATION_OVERLAP``), so a receiver
    verifying with either secret misses nothing while it switches."""
    return units.with_secret(await webhook_service.rotate_secret(session, units, subscription_id))


@router.post(
    "/webhooks/subscriptions/{subscription_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send a webhook.test message (follow it with GET /v1/webhooks/deliveries/{id})",
)
async def send_test(
    subscription_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> DeliveryDetail:
    """Queue a ``webhook.test`` message to an active subscription (409 when inactive) and
    answer the pending delivery; follow it with ``GET /v1/webhooks/deliveries/{id}``."""
    return _detail(await webhook_service.send_test(session, units, subscription_id))


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
    """Queue every dead-lettered delivery of an active subscription again, with their
    original message ids, and answer how many."""
    return ReplayResult(replayed=await webhook_service.replay_dead(session, units, subscription_id))


@router.get(
    "/webhooks/deliveries",
    response_model=CursorPage[DeliveryOut],
    responses=error_responses(400, 401, 403, 404, 422),
    summary="List deliveries, newest first",
)
async def list_deliveries(
    session: SessionDep,
    units: WebhookManager,
    filters: Annotated[DeliveryFilters, Query()],
) -> CursorPage[DeliveryOut]:
    """One cursor page of the deliveries of the subscriptions in the caller's scope, newest
    first, optionally of one subscription or in one state (payloads are in the detail)."""
    found = await webhook_service.list_deliveries(session, units, filters)
    return _deliveries(found, filters.limit)


@router.get(
    "/webhooks/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One delivery, with its payload",
)
async def get_delivery(
    delivery_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> DeliveryDetail:
    """One delivery of a subscription in the caller's scope, with the message body exactly as
    sent (one of the published message schemas)."""
    return _detail((await webhook_service.get_delivery(session, units, delivery_id))[0])


@router.post(
    "/webhooks/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send a delivered or dead-lettered delivery again (same message id)",
)
async def replay_delivery(
    delivery_id: uuid.UUID, session: SessionDep, units: WebhookManager
) -> DeliveryDetail:
    """Queue a delivered or dead-lettered delivery again with the same message id (receivers
    deduplicate on it); a pending one is a 409."""
    return _detail(await webhook_service.replay_delivery(session, units, delivery_id))


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
    data: ChannelSubscriptionCreate,
    session: SessionDep,
    channel: ChannelManager,
    request: Request,
    response: Response,
) -> ChannelSubscriptionWithSecret:
    """Subscribe a channel's backend; answers 201 with ``Location`` and the secret, shown only
    here. The intake service only, for the channel of the key it verified."""
    created = channel.with_secret(await webhook_service.create_subscription(session, channel, data))
    set_location(
        response,
        request,
        "get_channel_subscription",
        channel=channel.channel,
        subscription_id=created.id,
    )
    return created


@router.get(
    f"{CHANNEL_PREFIX}/subscriptions",
    response_model=CursorPage[ChannelSubscriptionOut],
    responses=error_responses(400, 401, 403, 422),
    summary="A channel's subscriptions, oldest first (service callers)",
)
async def list_channel_subscriptions(
    session: SessionDep,
    channel: ChannelManager,
    filters: Annotated[ChannelSubscriptionFilters, Query()],
) -> CursorPage[ChannelSubscriptionOut]:
    """One cursor page of a channel's subscriptions, oldest first. The intake service only."""
    rows, next_cursor, total = await webhook_service.list_subscriptions(
        session, channel, filters, active=filters.active
    )
    return CursorPage[ChannelSubscriptionOut](
        items=[channel.out(row) for row in rows],
        next_cursor=next_cursor,
        limit=filters.limit,
        total=total,
    )


@router.get(
    f"{CHANNEL_PREFIX}/subscriptions/{{subscription_id}}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One of a channel's subscriptions (service callers)",
)
async def get_channel_subscription(
    subscription_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> ChannelSubscriptionOut:
    """One of a channel's subscriptions; another channel's is a 404. The intake service only."""
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
    """Change what the body names of a channel's subscription. The intake service only."""
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
    """Deactivate a channel's subscription (kept with its deliveries). The intake service
    only."""
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
    """A new signing secret for a channel's subscription; the replaced one keeps signing
    alongside it until ``previous_secret_until``. The intake service only."""
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
) -> DeliveryDetail:
    """Queue a ``webhook.test`` message to a channel's active subscription and answer the
    pending delivery. The intake service only."""
    return _detail(await webhook_service.send_test(session, channel, subscription_id))


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
    """Queue every dead-lettered delivery of a channel's active subscription again. The
    intake service only."""
    replayed = await webhook_service.replay_dead(session, channel, subscription_id)
    return ReplayResult(replayed=replayed)


@router.get(
    f"{CHANNEL_PREFIX}/deliveries",
    response_model=CursorPage[DeliveryOut],
    responses=error_responses(400, 401, 403, 404, 422),
    summary="A channel's deliveries, newest first (service callers)",
)
async def list_channel_deliveries(
    session: SessionDep,
    channel: ChannelManager,
    filters: Annotated[DeliveryFilters, Query()],
) -> CursorPage[DeliveryOut]:
    """One cursor page of a channel's deliveries, newest first. The intake service only."""
    found = await webhook_service.list_deliveries(session, channel, filters)
    return _deliveries(found, filters.limit)


@router.get(
    f"{CHANNEL_PREFIX}/deliveries/{{delivery_id}}",
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="One of a channel's deliveries, with its payload (service callers)",
)
async def get_channel_delivery(
    delivery_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> DeliveryDetail:
    """One of a channel's deliveries, with the message body as sent. The intake service
    only."""
    return _detail((await webhook_service.get_delivery(session, channel, delivery_id))[0])


@router.post(
    f"{CHANNEL_PREFIX}/deliveries/{{delivery_id}}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Send one of a channel's delivered or dead-lettered deliveries again",
)
async def replay_channel_delivery(
    delivery_id: uuid.UUID, session: SessionDep, channel: ChannelManager
) -> DeliveryDetail:
    """Queue one of a channel's delivered or dead-lettered deliveries again, same message
    id. The intake service only."""
    return _detail(await webhook_service.replay_delivery(session, channel, delivery_id))
