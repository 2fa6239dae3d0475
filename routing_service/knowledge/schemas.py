"""The knowledge base (知识库) as the API reads and writes it. Answers are plain text: stored
exactly as written and returned as text, never as HTML (a client shows them escaped)."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from routing_service.project.schemas import Cursor, UnitCode
from shared.enums import ArticleStatus, Topic
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.text import Reason, SingleLine, reject_control_characters

_plain = AfterValidator(reject_control_characters)
Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=4, max_length=500), _plain
]
# Not stripped: the answer is kept exactly as its author wrote it (line breaks, markup and all);
# control characters other than line breaks and tabs are refused like everywhere else.
Answer = Annotated[str, StringConstraints(min_length=2, max_length=20000, pattern=r"\S"), _plain]
Keyword = Annotated[
    str, SingleLine, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)
]
LegalBasis = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000), _plain
]
Note = Reason


class VersionStatus(StrEnum):
    """A version's own state: the article's states, and ``superseded`` once a newer version
    of the same article is published in its place."""

    draft = "draft"
    in_review = "in_review"
    published = "published"
    superseded = "superseded"
    withdrawn = "withdrawn"

    @property
    def label_zh(self) -> str:
        if self is VersionStatus.superseded:
            return "已被新版本替代"
        return ArticleStatus(self.value).label_zh


class ArticleIn(InputSchema):
    unit_code: UnitCode | None = Field(
        None, description="The owning department; by default the caller's own unit"
    )
    topic: Topic
    question: Question
    answer: Answer = Field(description="Plain text, stored and returned exactly as written")
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)
    legal_basis: LegalBasis | None = Field(None, description="政策依据 / legal basis or source")
    valid_from: date | None = Field(None, description="First day it is valid (Asia/Shanghai)")
    valid_until: date | None = Field(None, description="Last day it is valid (Asia/Shanghai)")


class ArticlePatch(InputSchema):
    """Fields to change in the draft. Editing a published article opens a new draft version;
    the published one stays public until the new one is published. Null clears an optional
    field (legal basis, validity dates)."""

    topic: Topic | None = None
    question: Question | None = None
    answer: Answer | None = None
    keywords: list[Keyword] | None = Field(None, max_length=20)
    legal_basis: LegalBasis | None = None
    valid_from: date | None = None
    valid_until: date | None = None


class ReviewIn(InputSchema):
    approve: bool
    note: Note | None = Field(None, description="Required to send a version back")

    @model_validator(mode="after")
    def _note_on_reject(self) -> Self:
        if not self.approve and not self.note:
            raise ValueError("sending back needs a note / 退回修改须填写审核意见")
        return self


class WithdrawIn(InputSchema):
    reason: Note


class ArticleFilters(InputSchema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: list[ArticleStatus] = Field(default_factory=list, max_length=4)
    unit: UnitCode | None = Field(None, description="The owning department's code")
    topic: list[Topic] = Field(default_factory=list, max_length=10)
    expiring_within_days: int | None = Field(
        None, ge=0, le=365,
        description="Published versions whose validity ends within this many days (expired "
        "ones included)",
    )  # fmt: skip
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = None
    with_total: bool = False

    def fingerprint_params(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"limit", "cursor", "with_total"})


class VersionOut(Schema):
    version: int
    status: VersionStatus
    status_label: str
    question: str
    answer: str = Field(description="Plain text, exactly as written (never HTML)")
    keywords: list[str]
    legal_basis: str | None
    valid_from: date | None
    valid_until: date | None
    written_by: str
    authors: list[str] = Field(description="Everyone who wrote into this version")
    created_at: Instant
    updated_at: Instant
    submitted_by: str | None
    submitted_at: Instant | None
    reviewed_by: str | None = Field(description="Who approved it or sent it back")
    reviewed_at: Instant | None
    review_note: str | None
    published_at: Instant | None
    superseded_at: Instant | None
    withdrawn_at: Instant | None
    warned_at: Instant | None = Field(description="When the owning unit was told it expires")


class ArticleOut(Schema):
    id: uuid.UUID
    unit_code: str
    unit_name: str
    topic: Topic
    topic_label: str
    status: ArticleStatus = Field(description="The current (newest) version's status")
    status_label: str
    current_version: int
    published_version: int | None = Field(description="The version the public sees, if any")
    current: VersionOut = Field(description="The newest version")
    published: VersionOut | None = Field(description="The published version, if any")
    created_by: str
    created_at: Instant
    updated_at: Instant
    withdrawn_at: Instant | None
    withdrawn_by: str | None
    withdraw_reason: str | None


class ArticleEventOut(Schema):
    seq: int
    version: int
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, Any]
    at: Instant


class ArticleDetailOut(ArticleOut):
    versions: list[VersionOut] = Field(description="Every version you may read, oldest first")
    history: list[ArticleEventOut] = Field(description="Every write, oldest first")


class UnitFiguresOut(Schema):
    unit_code: str
    unit_name: str
    published: int = Field(description="Articles with a published version")
    in_review: int = Field(description="Versions waiting for the center's review")
    expiring: int = Field(description="Published versions ending within the warning window")
    expired: int = Field(description="Still published but past their last valid day")


class KnowledgeFiguresOut(Schema):
    on: date = Field(description="Today (Asia/Shanghai): what expiring and expired count from")
    expiring_window_days: int
    units: list[UnitFiguresOut]
