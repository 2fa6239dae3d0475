from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from scoring_service.models._base import Model
from services.models import JSONType, UTCDateTime, utcnow


class RevisitTask(Model):
    """回访: due within 1 working day of a case's completion, done by the center."""

    __tablename__ = "revisit_task"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    round: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # the case's redo count
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # open | done | expired
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("case_id", "round", name="uq_revisit_task_case_round"),
        Index(
            "ix_revisit_task_open_due",
            "due_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),  # fmt: skip
    )


class Feedback(Model):
    """反馈: the result told to the submitter — through the original channel, a visit or a
    symposium."""

    __tablename__ = "feedback"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    method: Mapped[str] = mapped_column(String(24), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(120), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    attendees: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    minutes: Mapped[str | None] = mapped_column(Text)


class Rating(Model):
    """测评: one per case and round; a second arrival of the same rating changes nothing."""

    __tablename__ = "rating"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    round: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    satisfaction: Mapped[str] = mapped_column(String(16), nullable=False)
    score: Mapped[float | None] = mapped_column(Float)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    unit_at_fault: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # platform | staff
    method: Mapped[str] = mapped_column(String(24), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(120), nullable=False)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    redo_ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("case_id", "round", name="uq_rating_case_round"),
        Index("ix_rating_rated_at", "rated_at"),
    )


class ProjectRating(Model):
    """The enterprise's rating of the agency service at a milestone (开工, 建成投用): one per
    project and milestone; a second arrival of the same answer changes nothing."""

    __tablename__ = "project_rating"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    milestone: Mapped[str] = mapped_column(String(16), nullable=False)
    satisfaction: Mapped[str] = mapped_column(String(16), nullable=False)
    score: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(16), nullable=False)  # platform
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("project_id", "milestone", name="uq_project_rating_project_milestone"),
        Index("ix_project_rating_rated_at", "rated_at"),
    )


class EvaluationPolicy(Model):
    """Weights, k and deductions in force from a month on (admins change them, history kept)."""

    __tablename__ = "evaluation_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    effective_month: Mapped[str] = mapped_column(String(7), nullable=False, unique=True)  # YYYY-MM
    weights: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
