from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from scoring_service.models._base import Model
from services.models import UTCDateTime


class KnowledgeAnswerFact(Model):
    """A consultation its submitter closed with a published answer (from
    ``request.answered_by_knowledge``): one per request. No submitter is named here."""

    __tablename__ = "knowledge_answer_fact"

    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(32), nullable=False)
    article_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_knowledge_answer_fact_answered_at", "answered_at"),)
