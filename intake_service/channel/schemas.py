"""The channel notification API's schemas: the contract routing implements
(:mod:`shared.webhooks`), so both sides describe one thing."""

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

__all__ = [
    "ChannelSubscriptionCreate",
    "ChannelSubscriptionOut",
    "ChannelSubscriptionUpdate",
    "ChannelSubscriptionWithSecret",
    "DeliveryDetail",
    "DeliveryOut",
    "DeliveryStatus",
    "PayloadSchema",
    "ReplayResult",
    "payload_schemas",
]
