from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from intake_service.channel.service import ChannelWebhooks
from intake_service.issue.dependencies import ChannelClient
from services.auth import Principal
from services.policy import CHANNEL_KEY, own_channel


async def subscribing_channel(client: ChannelClient) -> str:
    """The channel whose notifications the caller manages: its verified key's scope."""
    principal = Principal(
        kind="channel",
        subject=f"{client.scope}:{client.name}",
        role=CHANNEL_KEY,
        display_name=client.name,
        extra={"channel": client.scope},
    )
    return own_channel(principal)


SubscribingChannel = Annotated[str, Depends(subscribing_channel)]


async def channel_webhooks(request: Request, channel: SubscribingChannel) -> ChannelWebhooks:
    """Routing's webhook API, for the caller's channel."""
    return ChannelWebhooks(request.app.state.http, channel)


RoutingForChannel = Annotated[ChannelWebhooks, Depends(channel_webhooks)]
