"""Webhook contracts shared by routing (which owns and delivers subscriptions) and intake
(which manages channel-owned subscriptions for channel backends: 原渠道反馈).

Every message is a Standard Webhooks message whose JSON body is ``{"type", "timestamp", "data"}``;
``data`` carries ``schema_version``. Each event type and version has a closed pydantic model here
and a published JSON Schema with an example: department events (:func:`department_schemas`,
served by routing at ``GET /v1/webhooks/schemas``) and channel events (:func:`payload_schemas`,
served by intake at ``GET /v1/channel/webhooks/schemas``). The producers build these models, so
what is sent cannot drift from what is published. Every time in a payload is UTC, written with
``Z``. Payloads never carry who submitted a request to a channel.

Versions: an additive change (a new optional field, a new event type) keeps the version; a
breaking one adds the next version of that event's model, sent alongside the old one until
subscribers have moved (a schema lists what each version looks like).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from shared.enums import (
    CardRole,
    CardStatus,
    Channel,
    Classification,
    RequestStatus,
    SubmitterKind,
    Topic,
    Urgency,
)
from shared.schemas.base import RFC3339_UTC, InputSchema, Instant, Schema, to_utc
from shared.schemas.text import SingleLine

__all__ = [
    "ANY_EVENT",
    "CHANNEL_EVENT_TYPES",
    "DEPARTMENT_EVENTS",
    "CHANNEL_EVENTS",
    "MAX_EVENT_TYPES",
    "RECEIVER_CONTRACT",
    "REQUEST_STATUS_CHANGED",
    "SIGNATURE_HEADER",
    "UNIT_EVENT_TYPES",
    "WEBHOOK_TEST",
    "CardCancelledData",
    "CardData",
    "CardDispatchedData",
    "CardExtensionDecidedData",
    "CardRedoData",
    "CardReminderData",
    "CardResumedData",
    "CardSentBackData",
    "CardSubmitter",
    "CardSupervisedData",
    "CardSuspendedData",
    "CaseSupplementedData",
    "HotIssueData",
    "KnowledgeExpiringData",
    "ChannelSubscriptionCreate",
    "ChannelSubscriptionFilters",
    "ChannelSubscriptionOut",
    "ChannelSubscriptionUpdate",
    "ChannelSubscriptionWithSecret",
    "ChannelTestData",
    "Cursor",
    "DeliveryDetail",
    "DeliveryFilters",
    "DeliveryOut",
    "DeliveryStatus",
    "Description",
    "EventSpec",
    "EventType",
    "Moment",
    "PageParams",
    "PayloadSchema",
    "ReplayResult",
    "RequestStatusChangedData",
    "SubscriptionDeliveryFilters",
    "UnitPayload",
    "UnitTestData",
    "WebhookUrl",
    "department_schemas",
    "envelope",
    "event_spec",
    "payload_schemas",
]

REQUEST_STATUS_CHANGED = "request.status_changed"
WEBHOOK_TEST = "webhook.test"
# What a channel-owned subscription can receive.
CHANNEL_EVENT_TYPES: tuple[str, ...] = (REQUEST_STATUS_CHANGED, WEBHOOK_TEST)
ANY_EVENT = "*"
MAX_EVENT_TYPES = 32
SIGNATURE_HEADER = (
    "Space-separated `v1,<base64 HMAC-SHA256>` signatures of `{webhook-id}.{webhook-timestamp}."
    "{body}`: one per signing secret (two during a rotation window); any one that verifies "
    "with your secret is enough"
)
RECEIVER_CONTRACT = (
    "A Standard Webhooks message (https://www.standardwebhooks.com), POSTed as JSON. Verify "
    "the signature over the exact body bytes, deduplicate on `webhook-id` (delivery is at least "
    "once) and answer any 2xx within the timeout; 410 Gone deactivates the subscription, "
    "anything else is retried with backoff and then dead-lettered."
)
PREVIOUS_SECRET_UNTIL = (
    "After a rotation: until when the previous secret still signs every message alongside "
    "the new one (the webhook-signature header carries both); null when only this one signs"
)


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
    created_at: Instant


class ChannelSubscriptionWithSecret(ChannelSubscriptionOut):
    """Returned once, when the subscription is created or its secret rotated."""

    secret: str = Field(description="Standard Webhooks signing secret (whsec_…); shown only once")
    previous_secret_until: Instant | None = Field(None, description=PREVIOUS_SECRET_UNTIL)


# --- list parameters: one cursor page (services.pagination) --------------------------------------

Cursor = Annotated[
    str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[A-Za-z0-9_\-.]+$")
]


class PageParams(Schema):
    """``limit``, ``cursor`` and ``with_total``; a list adds its filters, and everything but
    these three is part of the query a cursor belongs to. Unknown parameters are 422."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = Field(None, description="`next_cursor` of the previous page")
    with_total: bool = Field(False, description="Also count every match (costs a query)")

    def fingerprint_params(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"limit", "cursor", "with_total"})


class ChannelSubscriptionFilters(PageParams):
    """Subscriptions, oldest first."""

    active: bool | None = Field(None, description="Only active (true) or inactive (false) ones")


class SubscriptionDeliveryFilters(PageParams):
    """One subscription's deliveries, newest first."""

    status: DeliveryStatus | None = Field(None, description="Only deliveries in this state")


class DeliveryFilters(SubscriptionDeliveryFilters):
    """Deliveries, newest first."""

    subscription_id: uuid.UUID | None = Field(None, description="Only this subscription's")


# --- deliveries (every kind of subscription) ---------------------------------------------------


class DeliveryOut(Schema):
    id: uuid.UUID
    subscription_id: uuid.UUID
    message_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: Instant | None
    last_status_code: int | None
    last_error: str | None
    created_at: Instant
    delivered_at: Instant | None


class ReplayResult(Schema):
    replayed: int


# --- payloads, one model per event type and version --------------------------------------------

# RFC 3339 in UTC, written with ``Z``: what every time in a payload looks like.
# A payload's instant: the APIs' ``Instant`` (UTC, ``Z``), and never naive when it is made.
Moment = Annotated[
    AwareDatetime, AfterValidator(to_utc), Field(json_schema_extra={"pattern": RFC3339_UTC})
]


def _all_required(schema: dict[str, Any]) -> None:
    # Every field is always sent (an absent value as null), whatever its Python default.
    schema["required"] = list(schema.get("properties", {}))


class _Payload(BaseModel):
    # Closed: a field not in the published schema (an identity, say) cannot slip in.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_all_required)


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
        description="When it is due (UTC); null when this change sets no date"
    )
    expected_provisional: bool = Field(
        description="The due date may still move: the year's official holiday schedule is not "
        "published yet"
    )
    note: str | None = Field(description="The public note shown to the submitter")
    changed_at: Moment = Field(description="When the status changed (UTC)")


class ChannelTestData(_Payload):
    """``webhook.test`` v1 on a channel subscription."""

    schema_version: Literal[1] = 1
    subscription_id: uuid.UUID = Field(description="The subscription the test was sent to")
    channel: Channel = Field(description="Your channel")
    message: str = Field(description="A fixed bilingual text")


# --- what department systems receive -----------------------------------------------------------


class CardSubmitter(_Payload):
    """Who submitted, as the center passes it on: for a confidential request (举报, or the
    confidential flag) the identity fields arrive masked and ``masked`` is true."""

    kind: SubmitterKind = Field(description="enterprise or person")
    name: str | None = Field(None, description="The submitter's name (masked when confidential)")
    phone: str | None = Field(None, description="Contact phone (masked when confidential)")
    uscc: str | None = Field(None, description="Unified social credit code of the enterprise")
    enterprise_name: str | None = Field(None, description="The enterprise's name")
    masked: bool = Field(False, description="The identity fields are masked")


class CardData(_Payload):
    """The supervision card (督办卡) a unit holds, as it is after the event; every ``card.*``
    event carries it, plus what that event adds."""

    schema_version: Literal[1] = 1
    card_id: uuid.UUID = Field(description="The card")
    case_id: uuid.UUID = Field(description="The case (工单) the card belongs to")
    tracking_no: str = Field(description="The request's tracking number (受理编号)")
    unit_code: str = Field(description="Your unit's code")
    role: CardRole = Field(description="single (sole handler), lead (牵头) or co (协办)")
    status: CardStatus = Field(description="The card's status after the event")
    title: str = Field(description="The request's title")
    description: str = Field(description="What the submitter wrote")
    topic: Topic = Field(description="The topic code")
    urgency: Urgency = Field(description="normal, urgent or critical")
    classification: Classification | None = Field(
        description="The center's classification; null when not classified"
    )
    address: str | None = Field(description="Where, if the submitter said")
    submitter: CardSubmitter
    instructions: str | None = Field(description="The center's instructions to your unit")
    dispatched_at: Moment = Field(description="When the card was dispatched (UTC)")
    sign_due_at: Moment = Field(description="Sign (签收) by then (UTC)")
    due_at: Moment = Field(description="Complete by then (UTC)")
    due_provisional: bool = Field(
        description="The due date may still move: the year's holiday schedule is not published"
    )
    designated: bool = Field(description="Your unit was designated (指定) to handle it")


class CardDispatchedData(CardData):
    """``card.dispatched`` v1: the center dispatched a card to your unit."""


class CardCancelledData(CardData):
    """``card.cancelled`` v1: the card is cancelled; stop working on it."""

    reason: str = Field(description="Why, e.g. 提交人撤回")


class CardReminderData(CardData):
    """``card.reminder`` v1: not signed in time, or one working day before due (黄牌)."""

    level: Literal["sign_overdue", "yellow"] = Field(
        description="sign_overdue: not signed within the sign limit; yellow: due soon"
    )
    notice: str = Field(description="The notice text, as the center sends it")


class CardSupervisedData(CardData):
    """``card.supervised`` v1: a step of the supervision ladder above a reminder."""

    level: Literal["red", "listed", "escalated"] = Field(
        description="red: overdue (红牌); listed: 5 working days overdue (挂牌督办); escalated: "
        "repeated redo (提级督办)"
    )
    notice: str = Field(description="The notice text, as the center sends it")


class CardSentBackData(CardData):
    """``card.sent_back`` v1: the center's review did not accept the submitted result."""

    note: str | None = Field(description="The reviewer's note")


class CardExtensionDecidedData(CardData):
    """``card.extension_decided`` v1: your extension request was decided; on approval
    ``due_at`` is the new due date."""

    approved: bool = Field(description="The extension was approved")
    note: str | None = Field(description="The approver's note")


class CardRedoData(CardData):
    """``card.redo`` v1: the case was sent back for redo (发回重办) after completion."""

    reason: str = Field(description="Why it is redone")
    redo_count: int = Field(ge=1, description="How many times the case has been redone")
    head_involved: bool = Field(description="The unit's head must be involved (负责人参与)")


class CardSuspendedData(CardData):
    """``card.suspended`` v1: the card is suspended (挂起); its clock is paused."""

    reason: str = Field(description="Why it is suspended")


class CardResumedData(CardData):
    """``card.resumed`` v1: the card is resumed, with its deadlines moved by the pause."""


class CaseSupplementedData(_Payload):
    """``case.supplemented`` v1: the submitter added to a case your unit holds an open card
    of."""

    schema_version: Literal[1] = 1
    case_id: uuid.UUID = Field(description="The case")
    tracking_no: str = Field(description="The request's tracking number (受理编号)")
    text: str = Field(description="What the submitter added")
    attachments: list[str] = Field(description="Added attachment references (URLs or file ids)")


class KnowledgeExpiringData(_Payload):
    """``knowledge.article_expiring`` v1: a published answer your unit owns stops being valid
    within the warning window (30 days by default); review it and publish a new version."""

    schema_version: Literal[1] = 1
    article_id: uuid.UUID = Field(description="The article")
    version: int = Field(description="The published version that expires")
    question: str = Field(description="The article's question")
    unit_code: str = Field(description="Your unit's code (the owner)")
    valid_until: date = Field(description="Last day it is valid (Asia/Shanghai)")


class HotIssueData(_Payload):
    """``hot_issue.detected`` v1 (to a center's subscription): requests about one problem from
    many submitters in your area crossed a threshold (热点问题); once per cluster and threshold."""

    schema_version: Literal[1] = 1
    cluster_id: uuid.UUID = Field(description="The cluster (GET /v1/hot-issues/{id})")
    topic: Topic = Field(description="The requests' topic")
    area_code: str = Field(description="The area unit the cluster lies in")
    title: str = Field(description="A representative request title")
    submitters: int = Field(description="Distinct submitters in the window")
    requests: int = Field(description="Requests in the cluster")
    window_days: int = Field(description="The threshold's window in days")
    threshold: int = Field(description="The submitters threshold crossed")
    first_at: Moment = Field(description="The earliest member's receipt")
    last_at: Moment = Field(description="The latest member's receipt")


class UnitTestData(_Payload):
    """``webhook.test`` v1 on a unit's subscription."""

    schema_version: Literal[1] = 1
    subscription_id: uuid.UUID = Field(description="The subscription the test was sent to")
    unit_code: str = Field(description="Your unit's code")
    message: str = Field(description="A fixed bilingual text")


UnitPayload = (
    CardDispatchedData
    | CardCancelledData
    | CardReminderData
    | CardSupervisedData
    | CardSentBackData
    | CardExtensionDecidedData
    | CardRedoData
    | CardSuspendedData
    | CardResumedData
    | CaseSupplementedData
    | KnowledgeExpiringData
    | HotIssueData
    | UnitTestData
)


# --- message bodies (envelopes) ----------------------------------------------------------------


class _Envelope(_Payload):
    timestamp: Moment = Field(description="When the message was created (UTC)")


class CardDispatchedEvent(_Envelope):
    type: Literal["card.dispatched"]
    data: CardDispatchedData


class CardCancelledEvent(_Envelope):
    type: Literal["card.cancelled"]
    data: CardCancelledData


class CardReminderEvent(_Envelope):
    type: Literal["card.reminder"]
    data: CardReminderData


class CardSupervisedEvent(_Envelope):
    type: Literal["card.supervised"]
    data: CardSupervisedData


class CardSentBackEvent(_Envelope):
    type: Literal["card.sent_back"]
    data: CardSentBackData


class CardExtensionDecidedEvent(_Envelope):
    type: Literal["card.extension_decided"]
    data: CardExtensionDecidedData


class CardRedoEvent(_Envelope):
    type: Literal["card.redo"]
    data: CardRedoData


class CardSuspendedEvent(_Envelope):
    type: Literal["card.suspended"]
    data: CardSuspendedData


class CardResumedEvent(_Envelope):
    type: Literal["card.resumed"]
    data: CardResumedData


class CaseSupplementedEvent(_Envelope):
    type: Literal["case.supplemented"]
    data: CaseSupplementedData


class KnowledgeExpiringEvent(_Envelope):
    type: Literal["knowledge.article_expiring"]
    data: KnowledgeExpiringData


class HotIssueEvent(_Envelope):
    type: Literal["hot_issue.detected"]
    data: HotIssueData


class UnitTestEvent(_Envelope):
    type: Literal["webhook.test"]
    data: UnitTestData


class RequestStatusChangedEvent(_Envelope):
    type: Literal["request.status_changed"]
    data: RequestStatusChangedData


class ChannelTestEvent(_Envelope):
    type: Literal["webhook.test"]
    data: ChannelTestData


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type and version: who receives it, its models, what it means."""

    event_type: str
    version: int
    audience: Literal["department", "channel"]
    data: type[_Payload]
    envelope: type[_Envelope]
    summary: str

    @property
    def schema_id(self) -> str:
        if self.audience == "channel":
            return f"urn:yingshang:webhook:{self.event_type}:v{self.version}"
        return f"urn:yingshang:webhook:department:{self.event_type}:v{self.version}"


def _department(
    event_type: str, data: type[_Payload], envelope: type[_Envelope], summary: str
) -> EventSpec:
    return EventSpec(event_type, 1, "department", data, envelope, summary)


DEPARTMENT_EVENTS: tuple[EventSpec, ...] = (
    _department("card.dispatched", CardDispatchedData, CardDispatchedEvent,
                "派单:中心向本单位派发督办卡 / a card was dispatched to your unit"),
    _department("card.cancelled", CardCancelledData, CardCancelledEvent,
                "撤销:督办卡已取消(如提交人撤回)/ the card is cancelled, with the reason"),
    _department("card.reminder", CardReminderData, CardReminderEvent,
                "催办:超时未签收或临期黄牌 / not signed in time, or due within a working day"),
    _department("card.supervised", CardSupervisedData, CardSupervisedEvent,
                "督办:红牌超期、挂牌督办或提级督办 / overdue (red card), listed or escalated"),
    _department("card.sent_back", CardSentBackData, CardSentBackEvent,
                "审核退回:办理结果未通过审核 / the review sent the submitted result back"),
    _department("card.extension_decided", CardExtensionDecidedData, CardExtensionDecidedEvent,
                "延期审批:延期申请已批准或驳回 / the extension request was approved or refused"),
    _department("card.redo", CardRedoData, CardRedoEvent,
                "发回重办:已办结的工单退回重办 / the completed case is sent back for redo"),
    _department("card.suspended", CardSuspendedData, CardSuspendedEvent,
                "挂起:督办卡暂停计时 / the card is suspended, its clock paused"),
    _department("card.resumed", CardResumedData, CardResumedEvent,
                "恢复办理:督办卡恢复计时 / the card is resumed, deadlines moved by the pause"),
    _department("case.supplemented", CaseSupplementedData, CaseSupplementedEvent,
                "补充材料:提交人补充了内容或附件 / the submitter added text or attachments"),
    _department("knowledge.article_expiring", KnowledgeExpiringData, KnowledgeExpiringEvent,
                "知识到期:本单位的知识库答案即将失效 / an answer your unit owns expires soon"),
    _department("hot_issue.detected", HotIssueData, HotIssueEvent,
                "热点问题:辖区内同一问题的诉求人数超过阈值 / a cluster in your area turned hot"),
    _department(WEBHOOK_TEST, UnitTestData, UnitTestEvent,
                "测试消息:应请求发送 / a test message, sent on request"),
)  # fmt: skip
CHANNEL_EVENTS: tuple[EventSpec, ...] = (
    EventSpec(REQUEST_STATUS_CHANGED, 1, "channel", RequestStatusChangedData,
              RequestStatusChangedEvent,
              "状态变更:提交人看到的诉求状态已变化 / the status the submitter sees changed"),
    EventSpec(WEBHOOK_TEST, 1, "channel", ChannelTestData, ChannelTestEvent,
              "测试消息:应请求发送 / a test message, sent on request"),
)  # fmt: skip
# What a unit's subscription can receive.
UNIT_EVENT_TYPES: tuple[str, ...] = tuple(spec.event_type for spec in DEPARTMENT_EVENTS)
# Each payload model is one event's (webhook.test has one model per audience).
_BY_DATA: dict[type[_Payload], EventSpec] = {
    spec.data: spec for spec in (*DEPARTMENT_EVENTS, *CHANNEL_EVENTS)
}


def event_spec(data: _Payload) -> EventSpec:
    return _BY_DATA[type(data)]


def envelope(event_type: str, timestamp: datetime, data: _Payload) -> dict[str, Any]:
    """The JSON body of one message, through its event's closed model: every time in UTC
    (``Z``). A ``data`` that is not ``event_type``'s model is refused with ``TypeError``."""
    spec = _BY_DATA.get(type(data))
    if spec is None or spec.event_type != event_type:
        raise TypeError(f"{type(data).__name__} is not the payload of {event_type!r}")
    body = spec.envelope.model_validate({"type": event_type, "timestamp": timestamp, "data": data})
    dumped: dict[str, Any] = body.model_dump(mode="json")
    return dumped


# --- examples: real models, so each example is what the producer would send -------------------

_AT = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
_CARD = CardData(
    card_id=uuid.UUID("0b6f3a52-9a41-4c3e-8f0e-2d7c5a1e9b10"),
    case_id=uuid.UUID("5e2d8c17-3f60-4b9a-a1d4-7c0e6b2f8a35"),
    tracking_no="YS2612070042",
    unit_code="DEPT-JT",
    role=CardRole.single,
    status=CardStatus.dispatched,
    title="工业园区创业路路面塌陷,货车无法通行",
    description="创业路与振兴街交叉口往东约200米路面塌陷,已有两周,园区企业货车只能绕行十多公里。",
    topic=Topic.transport,
    urgency=Urgency.urgent,
    classification=Classification.general,
    address="经济开发区创业路与振兴街交叉口",
    submitter=CardSubmitter(
        kind=SubmitterKind.enterprise,
        name="张伟",
        phone="13800001234",
        uscc="91130400MA0A1B2C3D",
        enterprise_name="邯郸市恒达物流有限公司",
    ),
    instructions="请于签收后1个工作日内联系企业,说明修复计划。",
    dispatched_at=_AT,
    sign_due_at=datetime(2026, 12, 7, 3, 30, tzinfo=UTC),
    due_at=datetime(2026, 12, 14, 9, 0, tzinfo=UTC),
    due_provisional=False,
    designated=False,
)


def _card(model: type[CardData], **changes: Any) -> CardData:
    return model.model_validate({**dict(_CARD), **changes})


_SIGNED = {"status": CardStatus.signed}
_EXAMPLE_DATA: list[_Payload] = [
    _card(CardDispatchedData),
    _card(CardCancelledData, status=CardStatus.cancelled, reason="提交人撤回"),
    _card(CardReminderData, **_SIGNED, level="yellow",
          notice="【黄牌催办】区交通运输局:工单 YS2612070042 将于 2026-12-14 17:00 到期,请抓紧办理。"),
    _card(CardSupervisedData, **_SIGNED, level="red",
          notice="【红牌督办】王局长:区交通运输局承办的工单 YS2612070042 已于 2026-12-14 17:00 超期,"
                 "请单位负责人督促办理。"),
    _card(CardSentBackData, **_SIGNED, note="办理结果未附修复现场照片,请补充后重新提交。"),
    _card(CardExtensionDecidedData, **_SIGNED, due_at=datetime(2026, 12, 17, 9, 0, tzinfo=UTC),
          approved=True, note="同意延期3个工作日,请按期完成修复。"),
    _card(CardRedoData, **_SIGNED, due_at=datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
          reason="回访中企业反映路面仍未修复", redo_count=1, head_involved=True),
    _card(CardSuspendedData, status=CardStatus.suspended, reason="等待市政施工单位进场,暂停计时"),
    _card(CardResumedData, **_SIGNED, due_at=datetime(2026, 12, 16, 9, 0, tzinfo=UTC)),
    CaseSupplementedData(case_id=_CARD.case_id, tracking_no=_CARD.tracking_no,
                         text="补充:塌陷范围已扩大到两个车道,附现场照片。",
                         attachments=["https://files.example.gov.cn/ys/2612070042/photo-1.jpg"]),
    KnowledgeExpiringData(article_id=uuid.UUID("3d9b6f20-5c1e-4a87-9f3d-8e2a7b0c4d61"), version=2,
                          question="企业开办需要哪些材料,多长时间能办完?", unit_code="DEPT-SJ",
                          valid_until=date(2026, 12, 31)),
    HotIssueData(cluster_id=uuid.UUID("7f2c4e81-9a3d-4b65-8c1e-0d5a6b7e2f93"), topic=Topic.transport,
                 area_code="HS-YQ", title="经济开发区园区企业员工上下班没有公交线路", submitters=6,
                 requests=7, window_days=7, threshold=5,
                 first_at=datetime(2026, 12, 1, 1, 5, tzinfo=UTC), last_at=_AT),
    UnitTestData(subscription_id=uuid.UUID("9c1d7e24-6b3a-4f85-b2e0-1a4c8d6f3e57"),
                 unit_code="DEPT-JT", message="这是一条测试消息 / This is a test message"),
    RequestStatusChangedData(tracking_no="YS2612070042", channel=Channel.app,
                             status=RequestStatus.dispatched, status_label="已派单",
                             agency_responsible="区交通运输局",
                             expected_at=datetime(2026, 12, 14, 9, 0, tzinfo=UTC),
                             expected_provisional=False, note="已交由区交通运输局办理",
                             changed_at=_AT),
    ChannelTestData(subscription_id=uuid.UUID("4a7e2c91-0d3b-4e6f-9a85-c2b1f7d0e364"),
                    channel=Channel.app, message="这是一条测试消息 / This is a test message"),
]  # fmt: skip
_EXAMPLES: dict[str, dict[str, Any]] = {
    event_spec(data).schema_id: envelope(event_spec(data).event_type, _AT, data)
    for data in _EXAMPLE_DATA
}


# --- published schemas -------------------------------------------------------------------------


class PayloadSchema(Schema):
    type: str = Field(description="The event type (the body's ``type``)")
    schema_version: int = Field(description="The ``data.schema_version`` it describes")
    summary: str = Field(description="What the event means, in one line (Chinese / English)")
    json_schema: dict[str, Any] = Field(
        alias="schema",
        description="JSON Schema (draft 2020-12) of the whole message body, with an example",
    )


def _schemas(specs: tuple[EventSpec, ...]) -> list[PayloadSchema]:
    found = []
    for spec in specs:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": spec.schema_id,
            **spec.envelope.model_json_schema(mode="serialization"),
            "examples": [_EXAMPLES[spec.schema_id]],
        }
        found.append(
            PayloadSchema(
                type=spec.event_type,
                schema_version=spec.version,
                summary=spec.summary,
                json_schema=schema,
            )
        )
    return found


def payload_schemas() -> list[PayloadSchema]:
    """The JSON Schema of every channel message body, by event type and version."""
    return _schemas(CHANNEL_EVENTS)


def department_schemas() -> list[PayloadSchema]:
    """The JSON Schema of every department message body, by event type and version."""
    return _schemas(DEPARTMENT_EVENTS)


# --- the documented shape of a stored delivery's payload ---------------------------------------


class _DocumentedAs:
    """Publishes a field's JSON Schema as ``tp``'s while it stays a plain JSON object at run
    time: a delivery written before a schema existed is still shown as it was sent."""

    def __init__(self, tp: Any) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(tp)

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(self.adapter.core_schema)


# Every published message body, from the event specs (one list to keep, not two).
_ANY_ENVELOPE: Any = Union[tuple(spec.envelope for spec in (*DEPARTMENT_EVENTS, *CHANNEL_EVENTS))]  # noqa: UP007


class DeliveryDetail(DeliveryOut):
    payload: Annotated[dict[str, Any], _DocumentedAs(_ANY_ENVELOPE)] = Field(
        description="The message body exactly as sent: one of the published message schemas"
    )
