"""Facts copied from the other services' events: scoring never reads their tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from scoring_service.models._base import Model
from services.crypto import SealedJSON
from services.models import JSONType, UTCDateTime


class RequestFact(Model):
    """Every request as received (from ``request.submitted``): 'issues collected' by channel."""

    __tablename__ = "request_fact"

    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    submitter_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    uscc: Mapped[str | None] = mapped_column(String(18))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    cppcc_visit_id: Mapped[uuid.UUID | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_request_fact_received_at", "received_at"),)


class CaseFact(Model):
    __tablename__ = "case_fact"

    case_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    request_id: Mapped[uuid.UUID] = mapped_column(unique=True, nullable=False)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    urgency: Mapped[str] = mapped_column(String(16), nullable=False)
    classification: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    area_code: Mapped[str | None] = mapped_column(String(32))
    owner_unit_code: Mapped[str] = mapped_column(String(32), nullable=False)
    # Org-tree paths from routing's snapshots, for scoped reads (NULL: recorded before them).
    owner_unit_path: Mapped[str | None] = mapped_column(String(400))
    # Sealed whole (SM4): who to revisit, by name and phone.
    submitter: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("case_fact.submitter"), nullable=False
    )
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    cppcc_visit_id: Mapped[uuid.UUID | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redo_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    __table_args__ = (
        Index("ix_case_fact_received_at", "received_at"),
        Index("ix_case_fact_completed_at", "completed_at"),
    )


UNSIGNED = "signed_at IS NULL AND status IN ('dispatched', 'suspended')"
UNCONTACTED = "first_contact_at IS NULL AND signed_at IS NOT NULL"
UNSUBMITTED = "submitted_at IS NULL AND status NOT IN ('returned', 'cancelled')"
STEP = "role = 'step'"


class CardFact(Model):
    __tablename__ = "card_fact"

    card_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_code: Mapped[str] = mapped_column(String(32), nullable=False)
    unit_path: Mapped[str | None] = mapped_column(String(400))
    unit_name: Mapped[str] = mapped_column(String(100), nullable=False)
    unit_kind: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sign_due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contact_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    original_due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    extension_approved: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    working_days_taken: Mapped[int | None] = mapped_column(Integer)
    redo_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    supervision_level: Mapped[str] = mapped_column(String(16), default="none", nullable=False)
    listed: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # A step of a project's agency plan (role "step"): its project, procedure, legal limit in
    # working days and whether it was done on the spot (当场办结).
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    procedure_code: Mapped[str | None] = mapped_column(String(32))
    limit_days: Mapped[int | None] = mapped_column(Integer)
    on_spot: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    __table_args__ = (
        Index("ix_card_fact_unit_dispatched", "unit_code", "dispatched_at"),
        Index("ix_card_fact_unit_due", "unit_code", "due_at"),
        Index("ix_card_fact_dispatched_at", "dispatched_at"),
        Index("ix_card_fact_due_at", "due_at"),
        Index("ix_card_fact_approved_at", "approved_at"),
        # The undecided cards, which the evaluation counts live (the rest is rolled up): each
        # holds the work in hand, not the history.
        Index("ix_card_fact_unsigned", "dispatched_at", postgresql_where=text(UNSIGNED),
              sqlite_where=text(UNSIGNED)),
        Index("ix_card_fact_uncontacted", "contact_due_at", postgresql_where=text(UNCONTACTED),
              sqlite_where=text(UNCONTACTED)),
        Index("ix_card_fact_unsubmitted", "due_at", postgresql_where=text(UNSUBMITTED),
              sqlite_where=text(UNSUBMITTED)),
        # A project's steps among all cards, for the agency statistics of a period.
        Index("ix_card_fact_step_approved", "approved_at", postgresql_where=text(STEP),
              sqlite_where=text(STEP)),
        Index("ix_card_fact_step_due", "due_at", postgresql_where=text(STEP),
              sqlite_where=text(STEP)),
    )  # fmt: skip


class VisitFact(Model):
    """An enterprise or merchant visited (CPPCC 165 visits from intake, center visits here)."""

    __tablename__ = "visit_fact"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    target_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    target_key: Mapped[str] = mapped_column(String(200), nullable=False)  # uscc, else name
    target_name: Mapped[str] = mapped_column(String(200), nullable=False)
    visited_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    recorded_by: Mapped[str | None] = mapped_column(String(120))


class ProjectFact(Model):
    """An investment project of the agency service (帮办代办), from routing's snapshots.

    The actual date each stage was reached is copied out of ``stage_dates`` into its own
    indexed column, so the statistics of a period read an index range, not every project.
    """

    __tablename__ = "project_fact"

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    enterprise_name: Mapped[str] = mapped_column(String(200), nullable=False)
    uscc: Mapped[str] = mapped_column(String(18), nullable=False)
    investment: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)  # 万元
    industry: Mapped[str | None] = mapped_column(String(50))
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    stage: Mapped[str] = mapped_column(String(16), nullable=False)
    area_unit_code: Mapped[str] = mapped_column(String(32), nullable=False)
    area_unit_path: Mapped[str] = mapped_column(String(400), nullable=False)
    center_unit_code: Mapped[str] = mapped_column(String(32), nullable=False)
    center_unit_path: Mapped[str] = mapped_column(String(400), nullable=False)
    stage_dates: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_on: Mapped[date | None] = mapped_column(Date)
    continuing_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    # The day scoring first saw the project terminated (routing's snapshot time), unless
    # routing dates the termination itself.
    terminated_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_project_fact_created_at", "created_at"),
        Index("ix_project_fact_started_on", "started_on"),
        Index("ix_project_fact_continuing_on", "continuing_on"),
        Index("ix_project_fact_completed_on", "completed_on"),
    )
