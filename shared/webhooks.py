"""Webhook contracts shared by routing (which owns and delivers subscriptions) and intake
(which manages channel-owned subscriptions for channel backends: 原渠道反馈).

A channel backend's subscription receives Standard Webhooks messages whose JSON body is
``{"type", "timestamp", "data"}``; ``data`` carries ``schema_version``. Each event type and
version has a published JSON Schema (:func:`payload_schemas`, served by intake at
``GET /v1/channel/webhooks/schemas``). Payloads never carry who submitted a request.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from shared.enums import Channel, RequestStatus
from shared.schemas.base import InputSchema, Schema
from shared.schemas.text import SingleLine

__all__ = [
    "ANY_EVENT",
    "CHANNEL_EVENT_TYPES",
    "MAX_EVENT_TYPES",
    "REQUEST_STATUS_CHANGED",
    "WEBHOOK_TEST",
    "ChannelSubscriptionCreate",
    "ChannelSubscriptionOut",
    "ChannelSubscriptionUpdate",
    "ChannelSubscriptionWithSecret",
    "ChannelTestData",
    "DeliveryDetail",
    "DeliveryOut",
    "DeliveryStatus",
    "Description",
    "EventType",
    "PayloadSchema",
    "ReplayResult",
    "RequestStatusChangedData",
    "WebhookUrl",
    "payload_schemas",
]

REQUEST_STATUS_CHANGED = "request.status_changed"
WEBHOOK_TEST = "webhook.test"
# What a channel-owned subscription can receive.
CHANNEL_EVENT_TYPES: tuple[str, ...] = (REQUEST_STATUS_CHANGED, WEBHOOK_TEST)
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


# --- channel-owned subscriptions (intake → routing, and intake's own API) ----------------------


class ChannelSubscriptionCreate(InputSchema):
    url: WebhookUrl
    event_types: list[EventType] = Field(
        default_factory=lambda: [REQUEST_STATUS_CHANGED],
        min_length=1,
        max_length=MAX_EVENT_TYPES,
        description=f"Event types to receive, or ['*'] for all: {', '.join(CHANNEL_EVENT_TYPES)}",
    )
    description: Description | None = None


class ChannelSubscriptionUpdate(InputSchema):
    """Fields left out stay as they are; ``description: null`` clears the description."""

    url: WebhookUrl | None = None
    event_types: list[EventType] | None = Field(None, min_length=1, max_length=MAX_EVENT_TYPES)
    active: bool | None = None
    description: Description | None = None


class ChannelSubscriptionOut(Schema):
    id: uuid.UUID
    channel: Channel
    url: str
    event_types: list[str]
    active: bool
    description: str | None
    created_at: datetime


class ChannelSubscriptionWithSecret(ChannelSubscriptionOut):
    """Returned once, when the subscription is created or its secret rotated."""

    secret: str = Field(description="Standard Webhooks signing secret (whsec_…); shown only once")


# --- deliveries (every kind of subscription) ---------------------------------------------------


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


# --- payloads channels receive, one model per event type and version ---------------------------

# RFC 3339 with an offset (``Z`` or ``±hh:mm``): what every time in a payload looks like.
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
Moment = Annotated[AwareDatetime, Field(json_schema_extra={"pattern": RFC3339})]


class _Payload(BaseModel):
    # Closed: a field not in the published schema (an identity, say) cannot slip in.
    model_config = ConfigDict(extra="forbid")


class RequestStatusChangedData(_Payload):
    """``request.status_changed`` v1: what the submitter now sees on their request."""

    schema_version: Literal[1] = 1
    tracking_no: str = Field(description="The request's tracking number (受理编号)")
    channel: Channel = Field(description="The channel the request came through (yours)")
    status: RequestStatus = Field(description="The new submitter-facing status code")
    status_label: str = Field(description="Its Chinese label, e.g. 办理中")
    agency_responsible: str | None = Field(
        description="The responsible unit's name; null when this change names none (the last "
        "named one still applies)"
    )
    expected_at: Moment | None = Field(
        description="When it is due (RFC 3339); null when this change sets no date"
    )
    expected_provisional: bool = Field(
        description="The due date may still move: the year's official holiday schedule is not "
        "published yet"
    )
    note: str | None = Field(description="The public note shown to the submitter")
    changed_at: Moment


class ChannelTestData(_Payload):
    """``webhook.test`` v1 on a channel subscription."""

    schema_version: Literal[1] = 1
    subscription_id: uuid.UUID
    channel: Channel
    message: str


class _Envelope(_Payload):
    timestamp: Moment = Field(description="When the message was created (RFC 3339)")


class RequestStatusChangedV1(_Envelope):
    type: Literal["request.status_changed"]
    data: RequestStatusChangedData


class ChannelTestV1(_Envelope):
    type: Literal["webhook.test"]
    data: ChannelTestData


_PAYLOADS: list[tuple[str, int, type[_Envelope]]] = [
    (REQUEST_STATUS_CHANGED, 1, RequestStatusChangedV1),
    (WEBHOOK_TEST, 1, ChannelTestV1),
]


class PayloadSchema(Schema):
    type: str = Field(description="The event type (the body's ``type``)")
    schema_version: int = Field(description="The ``data.schema_version`` it describes")
    json_schema: dict[str, Any] = Field(
        alias="schema", description="JSON Schema (draft 2020-12) of the whole message body"
    )


def payload_schemas() -> list[PayloadSchema]:
    """The JSON Schema of every channel message body, by event type and version."""
    found = []
    for event_type, version, model in _PAYLOADS:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:yingshang:webhook:{event_type}:v{version}",
            **model.model_json_schema(mode="serialization"),
        }
        found.append(PayloadSchema(type=event_type, schema_version=version, json_schema=schema))
    return found
