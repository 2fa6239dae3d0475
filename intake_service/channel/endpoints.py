"""Notifications through the original channel (原渠道反馈): a channel's backend subscribes, with
its channel API key, to the status changes of the requests submitted through its channel.

Every call acts for the channel of the verified key (never one named in the body); another
channel's subscriptions and deliveries answer 404. Messages are Standard Webhooks, signed with
the subscription's secret (both secrets during a rotation window); their JSON Schemas are at
``GET /v1/channel/webhooks/schemas`` and in the OpenAPI ``webhooks`` section. Lists are cursor
pages (``limit``, ``cursor``, ``with_total``), passed through to routing.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from intake_service.channel.dependencies import RoutingForChannel
from services.errors import error_responses
from services.responses import set_location
from shared.schemas.page import CursorPage
from shared.webhooks import (
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
    SubscriptionDeliveryFilters,
    payload_schemas,
)

router = APIRouter(prefix="/v1/channel", tags=["channel notifications"])


def _query(filters: ChannelSubscriptionFilters | SubscriptionDeliveryFilters) -> dict[str, Any]:
    # Routing takes the same parameters: the page comes back as routing made it.
    return filters.model_dump(mode="json", exclude_none=True)


@router.get(
    "/webhooks/schemas",
    response_model=list[PayloadSchema],
    summary="JSON Schema of each message a channel subscription receives, by type and version",
)
async def list_payload_schemas() -> list[PayloadSchema]:
    """The published JSON Schema (draft 2020-12, with an example) of every message body a
    channel subscription receives, by event type and ``schema_version``. Public: no key
    needed."""
    return payload_schemas()


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelSubscriptionWithSecret,
    responses=error_responses(401, 403, 409, 422, 503),
    summary="Subscribe to your channel's status changes (the secret is shown only here)",
)
async def create_subscription(
    data: ChannelSubscriptionCreate,
    routing: RoutingForChannel,
    request: Request,
    response: Response,
) -> ChannelSubscriptionWithSecret:
    """Subscribe your backend to the status changes of your channel's requests; answers 201
    with ``Location`` and the signing secret, shown only here. A channel's own API key only."""
    created = ChannelSubscriptionWithSecret.model_validate(
        await routing.call("POST", "/subscriptions", body=data)
    )
    set_location(response, request, "get_subscription", subscription_id=created.id)
    return created


@router.get(
    "/webhooks",
    response_model=CursorPage[ChannelSubscriptionOut],
    responses=error_responses(400, 401, 403, 422, 503),
    summary="Your channel's subscriptions, oldest first",
)
async def list_subscriptions(
    routing: RoutingForChannel, filters: Annotated[ChannelSubscriptionFilters, Query()]
) -> CursorPage[ChannelSubscriptionOut]:
    """One cursor page of your channel's subscriptions, oldest first (secrets are never
    listed); pass ``next_cursor`` back as ``cursor`` for the next page."""
    page = await routing.call("GET", "/subscriptions", params=_query(filters))
    return CursorPage[ChannelSubscriptionOut].model_validate(page)


@router.get(
    "/webhooks/{subscription_id}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="One of your channel's subscriptions",
)
async def get_subscription(
    subscription_id: uuid.UUID, routing: RoutingForChannel
) -> ChannelSubscriptionOut:
    """One of your channel's subscriptions; another channel's is a 404."""
    found = await routing.call("GET", f"/subscriptions/{subscription_id}")
    return ChannelSubscriptionOut.model_validate(found)


@router.patch(
    "/webhooks/{subscription_id}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Change the URL, event types, description, or (de)activate",
)
async def update_subscription(
    subscription_id: uuid.UUID, data: ChannelSubscriptionUpdate, routing: RoutingForChannel
) -> ChannelSubscriptionOut:
    """Change what the body names of one of your subscriptions, and nothing else."""
    updated = await routing.call("PATCH", f"/subscriptions/{subscription_id}", body=data)
    return ChannelSubscriptionOut.model_validate(updated)


@router.delete(
    "/webhooks/{subscription_id}",
    response_model=ChannelSubscriptionOut,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Deactivate a subscription (kept with its deliveries; PATCH active=true restores it)",
)
async def delete_subscription(
    subscription_id: uuid.UUID, routing: RoutingForChannel
) -> ChannelSubscriptionOut:
    """Deactivate one of your subscriptions: it is kept with its deliveries (PATCH
    ``active=true`` restores it)."""
    found = await routing.call("DELETE", f"/subscriptions/{subscription_id}")
    return ChannelSubscriptionOut.model_validate(found)


@router.post(
    "/webhooks/{subscription_id}/rotate-secret",
    response_model=ChannelSubscriptionWithSecret,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Replace the signing secret (the new one is shown only here)",
)
async def rotate_secret(
    subscription_id: uuid.UUID, routing: RoutingForChannel
) -> ChannelSubscriptionWithSecret:
    """A new signing secret, shown only here; the replaced one keeps signing alongside it
    until ``previous_secret_until``, so your backend can switch without missing a message."""
    rotated = await routing.call("POST", f"/subscriptions/{subscription_id}/rotate-secret")
    return ChannelSubscriptionWithSecret.model_validate(rotated)


@router.post(
    "/webhooks/{subscription_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Send a webhook.test message (follow it with GET /v1/channel/deliveries/{id})",
)
async def send_test(subscription_id: uuid.UUID, routing: RoutingForChannel) -> DeliveryDetail:
    """Queue a ``webhook.test`` message to one of your active subscriptions and answer the
    pending delivery; follow it with ``GET /v1/channel/deliveries/{id}``."""
    sent = await routing.call("POST", f"/subscriptions/{subscription_id}/test")
    return DeliveryDetail.model_validate(sent)


@router.post(
    "/webhooks/{subscription_id}/replay-dead",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayResult,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Send every dead-lettered delivery of a subscription again",
)
async def replay_dead(subscription_id: uuid.UUID, routing: RoutingForChannel) -> ReplayResult:
    """Queue every dead-lettered delivery of one of your active subscriptions again, with
    their original message ids, and answer how many."""
    replayed = await routing.call("POST", f"/subscriptions/{subscription_id}/replay-dead")
    return ReplayResult.model_validate(replayed)


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    response_model=CursorPage[DeliveryOut],
    responses=error_responses(400, 401, 403, 404, 422, 503),
    summary="A subscription's deliveries, newest first",
)
async def list_subscription_deliveries(
    subscription_id: uuid.UUID,
    routing: RoutingForChannel,
    filters: Annotated[SubscriptionDeliveryFilters, Query()],
) -> CursorPage[DeliveryOut]:
    """One cursor page of one of your subscription's deliveries, newest first, optionally in
    one state."""
    params = {**_query(filters), "subscription_id": str(subscription_id)}
    page = await routing.call("GET", "/deliveries", params=params)
    return CursorPage[DeliveryOut].model_validate(page)


@router.get(
    "/deliveries",
    response_model=CursorPage[DeliveryOut],
    responses=error_responses(400, 401, 403, 404, 422, 503),
    summary="Your channel's deliveries, newest first",
)
async def list_deliveries(
    routing: RoutingForChannel, filters: Annotated[DeliveryFilters, Query()]
) -> CursorPage[DeliveryOut]:
    """One cursor page of your channel's deliveries, newest first, optionally of one
    subscription or in one state (payloads are in the detail)."""
    page = await routing.call("GET", "/deliveries", params=_query(filters))
    return CursorPage[DeliveryOut].model_validate(page)


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="One delivery, with its payload",
)
async def get_delivery(delivery_id: uuid.UUID, routing: RoutingForChannel) -> DeliveryDetail:
    """One of your channel's deliveries, with the message body exactly as sent (one of the
    published message schemas)."""
    return DeliveryDetail.model_validate(await routing.call("GET", f"/deliveries/{delivery_id}"))


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Send a delivered or dead-lettered delivery again (same message id)",
)
async def replay_delivery(delivery_id: uuid.UUID, routing: RoutingForChannel) -> DeliveryDetail:
    """Queue a delivered or dead-lettered delivery again with the same message id (deduplicate
    on it); a pending one is a 409."""
    replayed = await routing.call("POST", f"/deliveries/{delivery_id}/replay")
    return DeliveryDetail.model_validate(replayed)
