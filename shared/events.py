"""Events that cross services: the envelope, the typed payloads and who consumes each type.

Events are versioned; a consumer handles the versions it knows and ignores newer ones it does not
(logged), so producers can roll out first.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from shared.enums import (
    CardRole,
    CardStatus,
    CaseStatus,
    Channel,
    Classification,
    HotIssueState,
    ProjectLevel,
    ProjectStage,
    RequestStatus,
    RequestType,
    SubmitterKind,
    SupervisionLevel,
    Topic,
    UnitKind,
    Urgency,
)
from shared.schemas.base import Instant, Schema


class EventEnvelope(Schema):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: Instant = Field(default_factory=lambda: datetime.now(UTC))
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
    # The type was suggested from the text (the client did not say it); older events: False.
    type_suggested: bool = False
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
    # A blocker raised from a project (帮办代办中遇到的问题): routing links its case to it.
    project_id: uuid.UUID | None = None
    received_at: Instant


class RequestWithdrawn(EventData):
    TYPE = "request.withdrawn"

    request_id: uuid.UUID
    tracking_no: str
    reason: str | None = None
    withdrawn_at: Instant


# Why a request's personal data was erased: its retention period ran out after archiving, or
# its submitter asked (a withdrawn request).
ErasureReason = Literal["retention", "submitter_request"]


class RequestPersonalDataErased(EventData):
    """Intake erased a request's personal data (PIPL): past retention after archiving, or at the
    submitter's request once withdrawn. Routing and scoring blank their copies of the submitter;
    the case and its figures stay."""

    TYPE = "request.personal_data_erased"

    request_id: uuid.UUID
    tracking_no: str
    reason: ErasureReason
    erased_at: Instant


# What a copy of a submitter keeps once erased: the kind and the flags, and an enterprise's
# public registry identity (credit code, name); not the person's name, phone or e-mail.
ERASED_SUBMITTER_FIELDS = ("name", "phone", "email")


def erased_submitter(submitter: dict[str, Any]) -> dict[str, Any]:
    """A stored submitter (``SubmitterInfo`` as JSON) without its personal fields."""
    return {**submitter, **{key: None for key in ERASED_SUBMITTER_FIELDS if key in submitter}}


class RequestSupplemented(EventData):
    TYPE = "request.supplemented"

    request_id: uuid.UUID
    tracking_no: str
    text: str
    attachments: list[str] = Field(default_factory=list)
    supplemented_at: Instant


class CaseStatusChanged(EventData):
    """Routing tells intake what the submitter should see."""

    TYPE = "case.status_changed"

    request_id: uuid.UUID
    tracking_no: str
    status: RequestStatus
    note: str | None = None
    agency_responsible: str | None = None
    expected_at: Instant | None = None
    expected_provisional: bool = False
    changed_at: Instant


class CaseSnapshot(EventData):
    """Routing's case facts for scoring, sent whole on every change; ``revision`` orders them
    (a consumer keeps the highest), so redelivery and reordering are harmless."""

    TYPE = "case.snapshot"

    case_id: uuid.UUID
    revision: int
    request_id: uuid.UUID
    tracking_no: str
    channel: Channel
    type: RequestType
    topic: Topic
    urgency: Urgency
    classification: Classification | None
    status: CaseStatus
    area_code: str | None
    owner_unit_code: str
    # Where the owner sits in the org tree ("/HS/GM/"): scoring scopes reads by it.
    owner_unit_path: str | None = None
    submitter: SubmitterInfo
    anonymous: bool
    cppcc_member_id: uuid.UUID | None = None
    cppcc_visit_id: uuid.UUID | None = None
    received_at: Instant
    verified_at: Instant | None = None
    completed_at: Instant | None = None
    closed_at: Instant | None = None
    redo_count: int = 0
    escalated: bool = False


class CardSnapshot(EventData):
    TYPE = "card.snapshot"

    card_id: uuid.UUID
    case_id: uuid.UUID
    revision: int
    unit_code: str
    unit_path: str | None = None
    unit_name: str
    unit_kind: UnitKind | None = None
    role: CardRole
    status: CardStatus
    dispatched_at: Instant
    sign_due_at: Instant
    signed_at: Instant | None = None
    contact_due_at: Instant | None = None
    first_contact_at: Instant | None = None
    original_due_at: Instant
    due_at: Instant
    extension_approved: bool = False
    returned_at: Instant | None = None
    submitted_at: Instant | None = None
    approved_at: Instant | None = None
    working_days_taken: int | None = None
    redo_count: int = 0
    supervision_level: SupervisionLevel = SupervisionLevel.none
    listed: bool = False
    # A step of a project's agency plan (role ``step``): its project, procedure, legal limit
    # in working days, and whether it was done on the spot (当场办结).
    project_id: uuid.UUID | None = None
    procedure_code: str | None = None
    limit_days: int | None = None
    on_spot: bool = False


class StageDates(Schema):
    planned: date | None = None
    actual: date | None = None


class ProjectSnapshot(EventData):
    """Routing's project facts for scoring (statistics and the enterprise's rating), sent
    whole on every change and ordered by ``revision``."""

    TYPE = "project.snapshot"

    project_id: uuid.UUID
    revision: int
    tracking_no: str
    name: str
    enterprise_name: str
    uscc: str
    investment: str  # 万元, as a decimal string
    industry: str | None = None
    level: ProjectLevel
    stage: ProjectStage
    area_unit_code: str
    area_unit_path: str
    center_unit_code: str
    center_unit_path: str
    stage_dates: dict[ProjectStage, StageDates] = Field(default_factory=dict)
    created_at: Instant


class VisitLogged(EventData):
    """An enterprise or merchant was visited (走访) and the visit logged (CPPCC 165, center)."""

    TYPE = "visit.logged"

    visit_id: uuid.UUID
    channel: Channel
    target_kind: str
    target_name: str
    uscc: str | None = None
    visited_on: date
    recorded_by: str | None = None
    issue_count: int = 0


class RatingRecorded(EventData):
    """Scoring tells routing the revisit is done, so the case can be archived (归档)."""

    TYPE = "rating.recorded"

    case_id: uuid.UUID
    rating_id: uuid.UUID
    round: int
    satisfaction: str
    resolved: bool | None = None
    rated_at: Instant


class RevisitExpired(EventData):
    """The revisit window closed without a rating: routing archives the case anyway."""

    TYPE = "revisit.expired"

    case_id: uuid.UUID
    round: int
    expired_at: Instant


class KnowledgeArticlePublished(EventData):
    """Routing tells intake a published version of a knowledge article (知识库): intake keeps
    the published answers it searches for the public and for consultations' receipts."""

    TYPE = "knowledge.published"

    article_id: uuid.UUID
    version: int
    question: str
    answer: str
    topic: Topic
    unit_code: str
    unit_name: str
    keywords: list[str] = Field(default_factory=list)
    legal_basis: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    published_at: Instant


class KnowledgeArticleWithdrawn(EventData):
    TYPE = "knowledge.withdrawn"

    article_id: uuid.UUID
    withdrawn_at: Instant


class RequestAnsweredByKnowledge(EventData):
    """The submitter of a consultation said a published answer solved it: routing closes the
    case as answered by the knowledge base, scoring counts it (a service item, 办件)."""

    TYPE = "request.answered_by_knowledge"

    request_id: uuid.UUID
    tracking_no: str
    article_id: uuid.UUID
    version: int
    answered_at: Instant


class HotIssueSnapshot(EventData):
    """Routing's radar cluster for scoring (the public "top issues this month"), whole on every
    change and ordered by ``revision``; no personal data."""

    TYPE = "hot_issue.snapshot"

    hot_issue_id: uuid.UUID
    revision: int
    topic: Topic
    area_unit_code: str
    area_unit_name: str
    area_unit_path: str
    state: HotIssueState
    title: str
    requests: int
    submitters: int
    first_at: Instant
    last_at: Instant
    theme_month: str | None = None


class CasePlaced(EventData):
    """Routing to itself: place a new case on the radar, after the group of cases it arrived
    with is written (so case creation stays one round of statements per group)."""

    TYPE = "radar.place"

    case_id: uuid.UUID


# Which queues receive each event type. A type missing here is a programming error.
EVENT_ROUTES: dict[str, tuple[str, ...]] = {
    RequestSubmitted.TYPE: ("routing", "scoring"),
    RequestWithdrawn.TYPE: ("routing",),
    RequestSupplemented.TYPE: ("routing",),
    RequestPersonalDataErased.TYPE: ("routing", "scoring"),
    CaseStatusChanged.TYPE: ("intake",),
    CaseSnapshot.TYPE: ("scoring",),
    CardSnapshot.TYPE: ("scoring",),
    ProjectSnapshot.TYPE: ("scoring",),
    KnowledgeArticlePublished.TYPE: ("intake",),
    KnowledgeArticleWithdrawn.TYPE: ("intake",),
    RequestAnsweredByKnowledge.TYPE: ("routing", "scoring"),
    HotIssueSnapshot.TYPE: ("scoring",),
    CasePlaced.TYPE: ("routing",),
    VisitLogged.TYPE: ("scoring",),
    RatingRecorded.TYPE: ("routing",),
    RevisitExpired.TYPE: ("routing",),
}


def routes_for(event_type: str) -> tuple[str, ...]:
    try:
        return EVENT_ROUTES[event_type]
    except KeyError:
        raise LookupError(f"no consumers declared for event type {event_type!r}") from None
