"""The knowledge base as intake serves it (知识库): the latest published version of each article,
copied from routing's events (routing owns drafts, review and versions), and the consultations
their submitters said an article answered."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from intake_service.models._base import Model
from services.models import JSONType, UTCDateTime, utcnow
from services.search import GramArray


class KnowledgeArticle(Model):
    """One row per article: its newest published version, or a withdrawn one (kept, out of
    search, so that an older publication arriving late cannot bring it back)."""

    __tablename__ = "knowledge_article"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # 0: withdrawn before any publication reached intake (a placeholder with no text).
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # Text, not bounded strings: routing decides the lengths, and an event intake could not
    # store would be retried for ever.
    question: Mapped[str] = mapped_column(Text, nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    unit_code: Mapped[str] = mapped_column(String(64), nullable=False)
    unit_name: Mapped[str] = mapped_column(Text, nullable=False)
    keywords: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    # The keywords joined by spaces: what a search confirms its bigram candidates against.
    keywords_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    legal_basis: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Tagged bigrams (services.search) of question, keywords and answer; NULL once withdrawn.
    search_grams: Mapped[list[str] | None] = mapped_column(GramArray)

    __table_args__ = (
        Index("ix_knowledge_article_status_published_at", "status", "published_at"),
        Index("ix_knowledge_article_search_grams", "search_grams", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )


class KnowledgeAnswer(Model):
    """A consultation its submitter closed with a published answer ("this solved it"): one per
    request, so the same call again changes nothing."""

    __tablename__ = "knowledge_answer"

    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue.id"), primary_key=True)
    article_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_knowledge_answer_answered_at", "answered_at"),
        Index("ix_knowledge_answer_article_id", "article_id"),
    )
