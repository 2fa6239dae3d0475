"""Enterprises' investment projects (帮办代办 · 重点项目) and the procedure catalogue (事项目录).

A project carries its own append-only, hash-chained history (``project_event``), chained the way
cases chain theirs (``routing_service.assignment.history.chain_digest``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from routing_service.models._base import Model
from services.crypto import SealedText
from services.models import JSONType, UTCDateTime, utcnow


class Procedure(Model):
    """One standard approval or utility step (备案/核准, 用地预审, 供电接入…): who handles it,
    its legal time limit in working days and the steps that must be done before it."""

    __tablename__ = "procedure"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # Null until an admin names the responsible department (an org without such a unit).
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"))
    time_limit_days: Mapped[int] = mapped_column(Integer, nullable=False)
    # Codes of other procedures; the catalogue is kept acyclic.
    prerequisites: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Project(Model):
    """An enterprise's investment project carried by the center through its procedures."""

    __tablename__ = "project"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # What the enterprise follows its project by (with the secret handed to it once).
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    tracking_secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    enterprise_name: Mapped[str] = mapped_column(String(200), nullable=False)
    uscc: Mapped[str] = mapped_column(String(18), index=True, nullable=False)
    # 万元 (¥10k), two decimals
    investment: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    industry: Mapped[str | None] = mapped_column(String(50))
    area_unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    center_unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    stage: Mapped[str] = mapped_column(String(16), nullable=False)
    # The stage a paused project resumes to; the reason of a pause or termination.
    paused_from: Mapped[str | None] = mapped_column(String(16))
    stage_reason: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    # The enterprise's contact person, sealed (SM4, services.crypto).
    contact_name: Mapped[str | None] = mapped_column(SealedText("project.contact_name"))
    contact_phone: Mapped[str | None] = mapped_column(SealedText("project.contact_phone"))
    # stage value → {"planned": "YYYY-MM-DD" | null, "actual": "YYYY-MM-DD" | null}
    stage_dates: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    history_head: Mapped[str | None] = mapped_column(String(64))
    history_seq: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # Orders the project snapshots scoring keeps (the highest wins).
    revision: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    # The list's keyset order (newest first): a page is an index range, not a sort of the table.
    __table_args__ = (Index("ix_project_created_at_id", "created_at", "id"),)


class ProjectStep(Model):
    """One procedure of a project's agency plan (代办事项). While its prerequisites in the plan
    are not done it waits; then it is a card of the project's agency case for the responsible
    department (``card_id``: the current one; a returned step is dispatched again)."""

    __tablename__ = "project_step"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id"), index=True, nullable=False
    )
    procedure_code: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    # Working days promised (at most the legal limit, which is kept beside it).
    limit_days: Mapped[int] = mapped_column(Integer, nullable=False)
    legal_limit_days: Mapped[int] = mapped_column(Integer, nullable=False)
    # Codes of this plan's steps that must be done first (the catalogue's, within the plan).
    prerequisites: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    instructions: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    on_spot: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    card_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("card.id"), index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        # A procedure appears once in a plan, unless an earlier step of it was cancelled.
        Index(
            "uq_project_step_live_procedure",
            "project_id",
            "procedure_code",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
    )


class ProjectBlocker(Model):
    """A problem met on the way (用地指标、电力容量…), raised as a request through intake so it
    is verified, supervised and rated like any other; its case links back by ``project_id``."""

    __tablename__ = "project_blocker"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id"), index=True, nullable=False
    )
    request_id: Mapped[uuid.UUID] = mapped_column(unique=True, nullable=False)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    raised_by: Mapped[str] = mapped_column(String(120), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ProjectEvent(Model):
    """Append-only, hash-chained history of a project (created, edited, stage changes)."""

    __tablename__ = "project_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # "sm3" or "sha256": what ``hash`` was computed with; no default, every append names it
    # (the migration marked the rows from before SM3 "sha256").
    hash_alg: Mapped[str] = mapped_column(String(16), nullable=False)

    __table_args__ = (
        UniqueConstraint("project_id", "seq", name="uq_project_event_project_id_seq"),
    )
