from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from scoring_service.models._base import Model
from services.models import UTCDateTime


class HotIssueFact(Model):
    """A radar cluster (from ``hot_issue.snapshot``): topic, street, counts, state, theme. No
    request text and no submitter: the public reads it."""

    __tablename__ = "hot_issue_fact"

    hot_issue_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    area_unit_code: Mapped[str] = mapped_column(String(32), nullable=False)
    area_unit_name: Mapped[str] = mapped_column(String(100), nullable=False)
    area_unit_path: Mapped[str] = mapped_column(String(400), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    requests: Mapped[int] = mapped_column(Integer, nullable=False)
    submitters: Mapped[int] = mapped_column(Integer, nullable=False)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    theme_month: Mapped[str | None] = mapped_column(String(7))

    __table_args__ = (
        Index("ix_hot_issue_fact_last_at", "last_at"),
        Index("ix_hot_issue_fact_theme_month", "theme_month"),
    )
