"""Notifications through the original channel (原渠道反馈): a channel's backend subscribes, with
its channel API key, to the status changes of the requests submitted through its channel.

Every call acts for the channel of the verified key (never one named in the body); another
channel's subscriptions and deliveries answer 404. Messages are Standard Webhooks, signed with
the subscription's secret; their JSON Schemas are at ``GET /v1/channel/webhooks/schemas``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from intake_service.channel.dependencies import RoutingForChannel
from intake_service.channel.service import ChannelWebhooks
from services.errors import error_responses
from shared.webhooks import (
    ChannelSubscriptionCreate,
    ChannelSubscriptionOut,
    ChannelSubscriptionUpdate,
    ChannelSubscriptionWithSecret,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    PayloadSchema,
    ReplayResult,
    payload_schemas,
)

router = APIRouter(prefix="/v1/channel", tags=["channel notifications"])

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
StatusFilter = Annotated[DeliveryStatus | None, Query(alias="status")]


@router.get(
    "/webhooks/schemas",
    response_model=list[PayloadSchema],
    summary="JSON Schema of each message a channel subscription receives, by type and version",
)
async def list_payload_schemas() -> list[PayloadSchema]:
    return payload_schemas()


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelSubscriptionWithSecret,
    responses=error_responses(401, 403, 409, 422, 503),
    summary="Subscribe to your channel's status changes (the secret is shown only here)",
)
async def create_subscription(data: ChannelSubscriptionCreate, routing: RoutingForChannel) -> Any:
    return await routing.call("POST", "/subscriptions", body=data)


@router.get(
    "/webhooks",
    response_model=list[ChannelSubscriptionOut],
    responses=error_responses(401, 403, 422, 503),
    summary="Your channel's subscriptions",
)
async def list_subscriptions(
    routing: RoutingForChannel,
    active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    params = {"active": active, "limit": limit, "offset": offset}
    return await routing.call("GET", "/subscriptions", params=params)


@router.get(
    "/webhooks/{subscription_id}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="One of your channel's subscriptions",
)
async def get_subscription(subscription_id: uuid.UUID, routing: RoutingForChannel) -> Any:
    return await routing.call("GET", f"/subscriptions/{subscription_id}")


@router.patch(
    "/webhooks/{subscription_id}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Change the URL, event types, description, or (de)activate",
)
async def update_subscription(
    subscription_id: uuid.UUID, data: ChannelSubscriptionUpdate, routing: RoutingForChannel
) -> Any:
    return await routing.call("PATCH", f"/subscriptions/{subscription_id}", body=data)


@router.delete(
    "/webhooks/{subscription_id}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Deactivate a subscription (kept with its deliveries; PATCH active=true restores it)",
)
async def delete_subscription(subscription_id: uuid.UUID, routing: RoutingForChannel) -> Any:
    return await routing.call("DELETE", f"/subscriptions/{subscription_id}")


@router.post(
    "/webhooks/{subscription_id}/rotate-secret",
    response_model=ChannelSubscriptionWithSecret,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Replace the signing secret (the new one is shown only here)",
)
async def rotate_secret(subscription_id: uuid.UUID, routing: RoutingForChannel) -> Any:
    return await routing.call("POST", f"/subscriptions/{subscription_id}/rotate-secret")


@router.post(
    "/webhooks/{subscription_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Send a webhook.test message (follow it with GET /v1/channel/deliveries/{id})",
)
async def send_test(subscription_id: uuid.UUID, routing: RoutingForChannel) -> Any:
    return await routing.call("POST", f"/subscriptions/{subscription_id}/test")


@router.post(
    "/webhooks/{subscription_id}/replay-dead",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayResult,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Send every dead-lettered delivery of a subscription again",
)
async def replay_dead(subscription_id: uuid.UUID, routing: RoutingForChannel) -> Any:
    return await routing.call("POST", f"/subscriptions/{subscription_id}/replay-dead")


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(401, 403, 404, 422, 503),
    summary="A subscription's deliveries, newest first",
)
async def list_subscription_deliveries(
    subscription_id: uuid.UUID,
    routing: RoutingForChannel,
    status_filter: StatusFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    return await _deliveries(routing, subscription_id, status_filter, limit, offset)


@router.get(
    "/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Your channel's deliveries, newest first",
)
async def list_deliveries(
    routing: RoutingForChannel,
    subscription_id: uuid.UUID | None = None,
    status_filter: StatusFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    return await _deliveries(routing, subscription_id, status_filter, limit, offset)


async def _deliveries(
    routing: ChannelWebhooks,
    subscription_id: uuid.UUID | None,
    status_filter: DeliveryStatus | None,
    limit: int,
    offset: int,
) -> Any:
    params = {
        "subscription_id": None if subscription_id is None else str(subscription_id),
        "status": None if status_filter is None else status_filter.value,
        "limit": limit,
        "offset": offset,
    }
    return await routing.call("GET", "/deliveries", params=params)


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="One delivery, with its payload",
)
async def get_delivery(delivery_id: uuid.UUID, routing: RoutingForChannel) -> Any:
    return await routing.call("GET", f"/deliveries/{delivery_id}")


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Send a delivered or dead-lettered delivery again (same message id)",
)
async def replay_delivery(delivery_id: uuid.UUID, routing: RoutingForChannel) -> Any:
    return await routing.call("POST", f"/deliveries/{delivery_id}/replay")
