"""Events that cross services: the envelope, the typed payloads and who consumes each type.

Events are versioned; a consumer handles the versions it knows and ignores newer ones it does not
(logged), so producers can roll out first.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field

from shared.enums import Channel, RequestStatus, RequestType, SubmitterKind, Topic, Urgency
from shared.schemas.base import Schema


class EventEnvelope(Schema):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str
    data: dict[str, Any]
    trace_id: str | None = None


class EventData(Schema):
    """Base of every event payload; subclasses name their type and version."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class Location(Schema):
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    area_code: str | None = None


class SubmitterInfo(Schema):
    """Who submitted. For confidential requests (举报, confidential flag) identity fields arrive
    masked: the unmasked identity never leaves the intake service's discipline-only view."""

    kind: SubmitterKind
    name: str | None = None
    phone: str | None = None
    uscc: str | None = None
    enterprise_name: str | None = None
    masked: bool = False


class RequestSubmitted(EventData):
    TYPE = "request.submitted"

    request_id: uuid.UUID
    tracking_no: str
    channel: Channel
    type: RequestType
    topic: Topic
    topic_suggested: bool
    topic_confidence: float
    urgency: Urgency
    title: str
    description: str
    location: Location
    submitter: SubmitterInfo
    anonymous: bool
    confidential: bool
    attachments: list[str] = Field(default_factory=list)
    duplicate_of: str | None = None
    related: list[str] = Field(default_factory=list)
    cppcc_member_id: uuid.UUID | None = None
    cppcc_visit_id: uuid.UUID | None = None
    received_at: datetime


class RequestWithdrawn(EventData):
    TYPE = "request.withdrawn"

    request_id: uuid.UUID
    tracking_no: str
    reason: str | None = None
    withdrawn_at: datetime


class RequestSupplemented(EventData):
    TYPE = "request.supplemented"

    request_id: uuid.UUID
    tracking_no: str
    text: str
    attachments: list[str] = Field(default_factory=list)
    supplemented_at: datetime


class CaseStatusChanged(EventData):
    """Routing tells intake what the submitter should see."""

    TYPE = "case.status_changed"

    request_id: uuid.UUID
    tracking_no: str
    status: RequestStatus
    note: str | None = None
    agency_responsible: str | None = None
    expected_at: datetime | None = None
    expected_provisional: bool = False
    changed_at: datetime


# Which queues receive each event type. A type missing here is a programming error.
EVENT_ROUTES: dict[str, tuple[str, ...]] = {
    RequestSubmitted.TYPE: ("routing", "scoring"),
    RequestWithdrawn.TYPE: ("routing",),
    RequestSupplemented.TYPE: ("routing",),
    CaseStatusChanged.TYPE: ("intake",),
}


def routes_for(event_type: str) -> tuple[str, ...]:
    try:
        return EVENT_ROUTES[event_type]
    except KeyError:
        raise LookupError(f"no consumers declared for event type {event_type!r}") from None
