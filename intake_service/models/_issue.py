from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intake_service.models._base import Model
from services.models import UTCDateTime, utcnow
from services.search import GramArray


class Issue(Model):
    """A request (诉求) as received from a channel, with its submitter-facing status."""

    __tablename__ = "issue"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    tracking_secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    topic_suggested: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    topic_confidence: Mapped[float] = mapped_column(Float, default=1.0, nullable=False)
    # The client did not say the type (an Open311 app without attributes): suggested from text.
    type_suggested: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    urgency: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    area_code: Mapped[str | None] = mapped_column(String(32))
    submitter_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    submitter_name: Mapped[str | None] = mapped_column(String(100))
    submitter_phone: Mapped[str | None] = mapped_column(String(32))
    submitter_email: Mapped[str | None] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    # Stable key of "the same submitter" for duplicate detection (credit code, else phone).
    submitter_key: Mapped[str | None] = mapped_column(String(64))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    status_note: Mapped[str | None] = mapped_column(Text)
    agency_responsible: Mapped[str | None] = mapped_column(String(200))
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expected_provisional: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("issue.id"))
    related_tracking_nos: Mapped[str | None] = mapped_column(Text)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    cppcc_member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cppcc_member.id"))
    cppcc_visit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cppcc_visit.id"), index=True
    )
    # A blocker raised from a project (帮办代办): routing's project, owned there (no foreign key).
    project_id: Mapped[uuid.UUID | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bigrams of what staff may search (services.search): never the identity of an anonymous or
    # confidential submitter, or a search by name would point at the whistleblower.
    search_grams: Mapped[list[str] | None] = mapped_column(GramArray)

    attachments: Mapped[list[IssueAttachment]] = relationship(
        lazy="raise", order_by="IssueAttachment.created_at"
    )
    history: Mapped[list[IssueHistory]] = relationship(lazy="raise", order_by="IssueHistory.id")

    __table_args__ = (
        Index("ix_issue_submitter_key_received_at", "submitter_key", "received_at"),
        Index("ix_issue_topic_received_at", "topic", "received_at"),
        Index("ix_issue_received_at", "received_at"),
        Index("ix_issue_updated_at", "updated_at"),
        Index(
            "ix_issue_uscc",
            "uscc",
            postgresql_where=text("uscc IS NOT NULL"),
            sqlite_where=text("uscc IS NOT NULL"),
        ),
        Index("ix_issue_search_grams", "search_grams", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )


class IssueAttachment(Model):
    __tablename__ = "issue_attachment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    issue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("issue.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "url" | "upload"
    url: Mapped[str | None] = mapped_column(String(2000))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class IssueHistory(Model):
    """What the submitter sees of the request's progress (the full audited history lives in
    routing)."""

    __tablename__ = "issue_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue.id"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class IssueSupplement(Model):
    __tablename__ = "issue_supplement"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue.id"), index=True, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
