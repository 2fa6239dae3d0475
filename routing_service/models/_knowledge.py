"""The knowledge base (知识库): answers departments own and keep current, reviewed and
published by the center.

An article belongs to one department; each edit of a published article is a new version, and
every version is kept (old versions stay readable). Every write is an event of the article's
append-only history (``knowledge_event``): who wrote, submitted, approved, rejected, withdrew.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from routing_service.models._base import Model
from services.models import JSONType, UTCDateTime, utcnow


class KnowledgeArticle(Model):
    """One question and its answer over time. ``status`` is the current (newest) version's;
    ``published_version`` the one the public sees while a newer draft is worked on."""

    __tablename__ = "knowledge_article"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    current_version: Mapped[int] = mapped_column(Integer, nullable=False)
    published_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(120))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
    history_seq: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    __table_args__ = (Index("ix_knowledge_article_updated", "updated_at", "id"),)


class KnowledgeVersion(Model):
    """One version of an article. The answer is plain text, stored exactly as written and
    always returned as text (never rendered as HTML)."""

    __tablename__ = "knowledge_version"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    article_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_article.id"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    question: Mapped[str] = mapped_column(String(500), nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    # draft, in_review, published, superseded (a newer version was published), withdrawn
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    written_by: Mapped[str] = mapped_column(String(120), nullable=False)
    # Everyone who wrote into this version (none of them may approve it).
    authors: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    submitted_by: Mapped[str | None] = mapped_column(String(120))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(120))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the owning unit was told (webhook) that this version expires soon: once per version.
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("article_id", "version", name="uq_knowledge_version_article_id_version"),
        # The daily expiry scan and the figures read published versions by their end date only.
        Index(
            "ix_knowledge_version_published_until",
            "valid_until",
            postgresql_where=text("status = 'published'"),
            sqlite_where=text("status = 'published'"),
        ),
    )


class KnowledgeEvent(Model):
    """Append-only history of an article: every write, who made it and on which version."""

    __tablename__ = "knowledge_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_article.id"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("article_id", "seq", name="uq_knowledge_event_article_id_seq"),
    )
