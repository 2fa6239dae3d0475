from __future__ import annotations

import uuid
from typing import Annotated, Generic, Literal, Self, TypeVar

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from routing_service.config import HistoryHash
from shared.enums import (
    CardRole,
    CardStatus,
    CaseStatus,
    Channel,
    Classification,
    RequestType,
    SupervisionLevel,
    Topic,
    Urgency,
)
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.page import CursorPage
from shared.schemas.paging import PageQuery
from shared.schemas.text import Label, Reason, SingleLine, reject_control_characters

T = TypeVar("T")


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=5000),
    AfterValidator(reject_control_characters),
]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9@][A-Za-z0-9\-]{0,31}$")]
EvidenceUrl = Annotated[
    str, StringConstraints(max_length=2000, pattern=r"^(https?://|upload:)\S+$"), SingleLine
]


class VerifyIn(InputSchema):
    decision: Literal["accept", "reject", "merge", "answer"]
    classification: Classification | None = None
    reason: Reason | None = Field(None, description="Why (required for reject and merge)")
    answer: Text | None = Field(None, description="The direct answer (required for answer)")
    merge_into: str | None = Field(None, description="Tracking number of the case to merge into")
    topic: Topic | None = Field(None, description="Correct the topic")
    article_id: uuid.UUID | None = Field(
        None, description="answer only: cite a published knowledge article valid today"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.decision == "accept" and self.classification is None:
            raise ValueError("accept needs a classification / 受理须确定问题分类")
        if self.decision in ("reject", "merge") and not self.reason:
            raise ValueError("reject and merge need a reason / 不予受理或合并须说明理由")
        if self.article_id is not None and self.decision != "answer":
            raise ValueError("only an answer cites an article / 仅直接答复可引用知识库条目")
        if self.decision == "answer" and not self.answer and self.article_id is None:
            raise ValueError(
                "answer needs the answer text or an article / 直接答复须填写答复内容或引用知识库"
            )
        if self.decision == "merge" and not self.merge_into:
            raise ValueError("merge needs merge_into / 合并须指定目标工单")
        return self


class DispatchUnit(InputSchema):
    unit_code: UnitCode
    role: CardRole = CardRole.single


class MilestoneIn(InputSchema):
    name: Label
    days: int = Field(ge=1, le=250, description="Working days from dispatch")
    unit_code: UnitCode | None = None


class DispatchIn(InputSchema):
    units: list[DispatchUnit] = Field(min_length=1, max_length=10)
    instructions: Text | None = None
    limit_days: int | None = Field(
        None, ge=1, le=60, description="Override the classification's limit"
    )
    designate: bool = Field(
        False, description="The center designates the unit(s): no return allowed"
    )
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _roles(self) -> Self:
        codes = [unit.unit_code for unit in self.units]
        if len(set(codes)) != len(codes):
            raise ValueError("a unit appears twice / 单位重复")
        if len(self.units) > 1:
            leads = [u for u in self.units if u.role == CardRole.lead]
            if len(leads) != 1 or any(u.role == CardRole.single for u in self.units):
                raise ValueError(
                    "multi-unit dispatch needs one lead and co-handlers / 多部门件须一个主办、其余协办"
                )
        return self


class TransferIn(InputSchema):
    reason: Reason
    subject_unit_code: UnitCode | None = Field(
        None, description="The unit whose conduct is reported"
    )
    evidence: list[EvidenceUrl] = Field(default_factory=list, max_length=20)


class ReturnIn(InputSchema):
    reason: Reason


class NoteIn(InputSchema):
    text: Text
    attachments: list[EvidenceUrl] = Field(default_factory=list, max_length=20)


class ExtensionRequestIn(InputSchema):
    days: int = Field(ge=1, le=60)
    reason: Reason


class ExtensionDecisionIn(InputSchema):
    approve: bool
    note: Reason | None = None


class CompleteIn(InputSchema):
    result: Text
    evidence: list[EvidenceUrl] = Field(default_factory=list, max_length=20)


class ReviewIn(InputSchema):
    accept: bool
    note: Reason | None = None

    @model_validator(mode="after")
    def _why(self) -> Self:
        if not self.accept and not self.note:
            raise ValueError("sending back needs a note / 退回重办须说明理由")
        return self


class SuspendIn(InputSchema):
    reason: Reason
    kind: Literal["unreachable", "legal_procedure", "other"] = "other"


class RedoIn(InputSchema):
    reason: Reason
    rating_id: uuid.UUID | None = None


class CloseIn(InputSchema):
    note: Reason | None = None


class MilestoneDoneIn(InputSchema):
    note: Reason | None = None


class UnitSuggestionOut(Schema):
    unit_code: str
    unit_name: str
    confidence: float
    reason: str


class CardOut(Schema):
    id: uuid.UUID
    case_id: uuid.UUID
    tracking_no: str | None = None
    unit_code: str
    unit_name: str
    role: CardRole
    status: CardStatus
    instructions: str | None
    dispatched_at: Instant
    sign_due_at: Instant
    signed_at: Instant | None
    contact_due_at: Instant | None
    first_contact_at: Instant | None
    due_at: Instant
    original_due_at: Instant
    due_provisional: bool
    return_deadline_at: Instant
    returned_at: Instant | None
    return_reason: str | None
    suspended_at: Instant | None
    submitted_at: Instant | None
    result: str | None
    evidence: list[str]
    approved_at: Instant | None
    review_note: str | None
    extension_approved: bool
    supervision_level: SupervisionLevel
    listed: bool
    redo_count: int
    designated: bool = False


class ExtensionOut(Schema):
    id: uuid.UUID
    days: int
    status: str
    reason: str


class MilestoneOut(Schema):
    id: uuid.UUID
    name: str
    due_at: Instant
    due_provisional: bool
    done_at: Instant | None
    note: str | None


class CaseOut(Schema):
    id: uuid.UUID
    request_id: uuid.UUID
    tracking_no: str
    channel: Channel
    type: RequestType
    topic: Topic
    urgency: Urgency
    title: str
    description: str
    address: str | None
    area_code: str | None
    submitter: dict[str, object]
    anonymous: bool
    confidential: bool
    status: CaseStatus
    status_label: str
    classification: Classification | None
    owner_unit_code: str
    received_at: Instant
    verify_due_at: Instant
    verified_at: Instant | None
    decision_note: str | None
    must_designate: bool
    redo_count: int
    escalated: bool
    completed_at: Instant | None
    closed_at: Instant | None
    cards: list[CardOut] = Field(default_factory=list)
    milestones: list[MilestoneOut] = Field(default_factory=list)
    suggestions: list[UnitSuggestionOut] = Field(default_factory=list)


class CaseEventOut(Schema):
    seq: int
    card_id: uuid.UUID | None
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, object]
    at: Instant
    hash: str
    hash_alg: str = Field(description="What `hash` was computed with: sm3 or sha256")


class ChainCheckOut(Schema):
    case_id: uuid.UUID
    events: int
    valid: bool
    broken_at_seq: int | None
    problem: str | None
    algorithms: list[str] = Field(
        description="The hash algorithms of the chain's events (sm3, sha256), in the order "
        "they first appear: a chain begun before the switch to SM3 shows both"
    )
    current_algorithm: HistoryHash = Field(description="What new events are hashed with")


class TransferOut(Schema):
    id: uuid.UUID
    case_id: uuid.UUID
    tracking_no: str
    reason: str
    subject_unit_code: str | None
    evidence: list[str]
    transferred_by: str
    transferred_at: Instant
    acknowledged_at: Instant | None
    outcome: str | None
    submitter: dict[str, object] | None = None


class Page(Schema, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class AuditFilters(PageQuery):
    """The chain check over many cases: a page of cases by received time (then id)."""

    only_broken: bool = Field(True, description="Answer only the chains that fail the check")
    limit: int = Field(1000, ge=1, le=10_000, description="Cases checked in this page")


class TransferFilters(PageQuery):
    """The transfers to the discipline commission, newest first (then id)."""

    limit: int = Field(100, ge=1, le=500)


ChainCheckPage = CursorPage[ChainCheckOut]
TransferPage = CursorPage[TransferOut]
