from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from intake_service.models._base import Model
from services.models import UTCDateTime, utcnow


class LiaisonStation(Model):
    """One of the CPPCC "165" express's liaison stations (联络站), by sector (界别)."""

    __tablename__ = "liaison_station"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    sector: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CppccMember(Model):
    __tablename__ = "cppcc_member"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    sector: Mapped[str | None] = mapped_column(String(100))
    station_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("liaison_station.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CppccVisit(Model):
    """A member's visit to an enterprise or merchant (走访), whose findings become requests."""

    __tablename__ = "cppcc_visit"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cppcc_member.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # enterprise | merchant
    target_name: Mapped[str] = mapped_column(String(200), nullable=False)
    uscc: Mapped[str | None] = mapped_column(String(18))
    area_code: Mapped[str | None] = mapped_column(String(32))
    visited_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    findings: Mapped[str | None] = mapped_column(Text)
    issue_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        # One enterprise's visits (the enterprise file, 一企一档).
        Index(
            "ix_cppcc_visit_uscc",
            "uscc",
            postgresql_where=text("uscc IS NOT NULL"),
            sqlite_where=text("uscc IS NOT NULL"),
        ),
    )
