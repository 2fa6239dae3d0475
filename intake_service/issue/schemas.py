"""Public API schemas of the intake service (requests, receipts, tracking views)."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from intake_service.knowledge.schemas import ArticleBrief
from shared.enums import Channel, RequestStatus, RequestType, SubmitterKind, Topic, Urgency
from shared.identifiers import InvalidIdentifier, validate_phone, validate_uscc
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.text import Email, HttpUrl, ShortText, reject_control_characters

MAX_ATTACHMENTS = 10


def _identifier(validator: type | object) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validator(value)  # type: ignore[operator, no-any-return]
        except InvalidIdentifier as exc:
            raise PydanticCustomError(
                exc.code, "{zh} / {en}", {"zh": exc.message_zh, "en": exc.message_en}
            ) from exc

    return AfterValidator(check)


Phone = Annotated[str, _identifier(validate_phone)]
Uscc = Annotated[str, _identifier(validate_uscc)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=100),
    AfterValidator(reject_control_characters),
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=5, max_length=5000),
    AfterValidator(reject_control_characters),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(reject_control_characters),
]
Address = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(reject_control_characters),
]
Url = HttpUrl


class LocationIn(InputSchema):
    address: Address | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    area_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_\-]{1,32}$")] | None = None

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            raise PydanticCustomError(
                "location_incomplete", "经纬度须同时提供 / lat and lon must be given together"
            )
        for value in (self.lat, self.lon):
            if value is not None and not math.isfinite(value):
                raise PydanticCustomError("location_invalid", "坐标无效 / invalid coordinate")
        return self


class SubmitterIn(InputSchema):
    kind: SubmitterKind
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    uscc: Uscc | None = None
    enterprise_name: ShortText | None = None

    @model_validator(mode="after")
    def _enterprise(self) -> Self:
        if self.kind == SubmitterKind.enterprise and not self.uscc:
            raise PydanticCustomError(
                "uscc_required",
                "企业提交须填写统一社会信用代码 / An enterprise must give its unified social credit code",
            )
        return self


class AttachmentRef(InputSchema):
    """Either a media URL or the id of a file uploaded through ``POST /v1/attachments``."""

    url: Url | None = None
    upload_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.url is None) == (self.upload_id is None):
            raise PydanticCustomError(
                "attachment_ref",
                "附件须为 url 或 upload_id 之一 / give exactly one of url, upload_id",
            )
        return self


class IssueCreate(InputSchema):
    channel: Channel
    type: RequestType
    topic: Topic | None = Field(
        None, description="Omit to let the service suggest one from the text"
    )
    urgency: Urgency = Urgency.normal
    title: Title
    description: Description
    location: LocationIn | None = None
    submitter: SubmitterIn | None = None
    anonymous: bool = False
    confidential: bool | None = Field(
        None,
        description="Identity visible only to the discipline role; defaults to true for 举报 (report)",
    )
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    recorded_by: ShortText | None = Field(
        None, description="Operator who entered a hotline/console request"
    )

    @model_validator(mode="after")
    def _who(self) -> Self:
        if not self.anonymous:
            if self.submitter is None or not self.submitter.phone:
                raise PydanticCustomError(
                    "contact_required",
                    "实名提交须提供联系电话(或选择匿名)/ A phone number is required unless anonymous",
                )
        return self


class RaisedIssueCreate(IssueCreate):
    """A request raised by another service: a blocker met on a project (帮办代办中遇到的问题),
    raised by routing for the center's agent."""

    channel: Channel = Field(Channel.agency, description="Always 帮办代办 (agency)")
    project_id: uuid.UUID = Field(description="The routing project the blocker belongs to")

    @model_validator(mode="after")
    def _raised(self) -> Self:
        if self.channel != Channel.agency:
            raise PydanticCustomError(
                "channel_not_allowed",
                "项目中提出的诉求渠道须为帮办代办 / A request raised from a project is on the "
                "agency channel",
            )
        # Uploads belong to the channel key that sent them; a service has none.
        if any(ref.upload_id is not None for ref in self.attachments):
            raise PydanticCustomError(
                "attachment_ref",
                "服务提出的诉求只能以 url 附带附件 / A raised request attaches files by url only",
            )
        return self


class IssueReceipt(Schema):
    id: uuid.UUID
    tracking_no: str
    tracking_secret: str = Field(
        description="Shown once: proves ownership when tracking the request"
    )
    status: RequestStatus
    received_at: Instant
    topic: Topic
    topic_suggested: bool
    topic_confidence: float
    type: RequestType
    type_suggested: bool = Field(
        False, description="The client did not say the type; it was suggested from the text"
    )
    duplicate_of: str | None = None
    related: list[str] = Field(default_factory=list)
    articles: list[ArticleBrief] = Field(
        default_factory=list,
        description="A consultation only: up to 3 published answers that may already answer it "
        "(POST …/knowledge-answer says one did)",
    )


class HistoryEntry(Schema):
    status: RequestStatus
    status_label: str
    note: str | None = None
    at: Instant


class IssuePublic(Schema):
    tracking_no: str
    channel: Channel
    type: RequestType
    topic: Topic
    urgency: Urgency
    title: str
    description: str
    status: RequestStatus
    status_label: str
    status_note: str | None = None
    agency_responsible: str | None = None
    expected_at: Instant | None = None
    expected_provisional: bool = False
    received_at: Instant
    duplicate_of: str | None = None
    attachments: int = 0
    history: list[HistoryEntry]
    articles: list[ArticleBrief] = Field(
        default_factory=list,
        description="While a consultation is received or in verification: the published answers "
        "that may answer it",
    )


class WithdrawIn(InputSchema):
    reason: ShortText | None = None


class SupplementIn(InputSchema):
    text: Description
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class AttachmentOut(Schema):
    upload_id: uuid.UUID
    filename: str | None
    content_type: str | None
    size: int | None
    sha256: str | None


class TopicOut(Schema):
    code: Topic
    name: str = Field(description="Chinese name, e.g. 用地")


class TopicSuggestionOut(Schema):
    topic: Topic
    name: str = Field(description="The topic's Chinese name")
    confidence: float = Field(ge=0, le=1)
    matched: list[str] = Field(description="The keywords of the text that decided it")


# OpenAPI for a 201: the Location header (services.responses.set_location / resource_path).
LOCATION_HEADER: dict[str, Any] = {
    "Location": {
        "description": "Path of the created resource (or of the one that shows it)",
        "schema": {"type": "string"},
    }
}


def created(**responses: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry of a 201 that names what it created in ``Location``."""
    return {201: {"headers": LOCATION_HEADER, **responses}}
