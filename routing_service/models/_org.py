from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from routing_service.models._base import Model
from services.models import UTCDateTime, utcnow


class OrgUnit(Model):
    """A center at one of the three tiers, a functional department or the discipline commission.

    ``path`` is the materialized path of codes (``/HS/HS-GS01/``): a subtree is a prefix match,
    which keeps scope checks one indexed query.
    """

    __tablename__ = "org_unit"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    tier: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"))
    path: Mapped[str] = mapped_column(String(400), nullable=False, index=True)
    head_name: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class StaffUser(Model):
    __tablename__ = "staff_user"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(50), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Tokens issued before this are refused (set when the user is disabled, moved, re-roled or
    # given a new password); published to Redis for every API process (services/auth.py).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set for an account whose password someone else chose (the first-start admin, an admin's
    # reset): in production its tokens may do nothing but change it (services/auth.py).
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )


class DispatchRule(Model):
    """派单目录: topic × area → responsible unit, most specific area wins."""

    __tablename__ = "dispatch_rule"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    # Area code prefix (an org unit path); empty string = the whole district.
    area_path: Mapped[str] = mapped_column(String(400), default="", nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    classification: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float, default=0.9, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (Index("ix_dispatch_rule_topic", "topic", "area_path"),)
