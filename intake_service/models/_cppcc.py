from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ColumnElement, Date, ForeignKey, Index, Integer, String, Text, and_, text
from sqlalchemy.orm import Mapped, mapped_column

from intake_service.models._base import Model
from services.crypto import Sealed, SealedText
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
    # A member's phone is personal data like a submitter's: sealed (SM4), found by its blind
    # index (the same HMAC-SM3 digest as a submitter's phone, services.crypto.blind_index).
    phone: Mapped[str | Sealed | None] = mapped_column(SealedText("cppcc_member.phone"))
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    sector: Mapped[str | None] = mapped_column(String(100))
    station_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("liaison_station.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @classmethod
    def sealing_due(cls) -> ColumnElement[bool]:
        """Rows registered before sealing: no blind index yet (services/encryption.py)."""
        return and_(cls.phone_index.is_(None), cls.phone.is_not(None))

    def reseal(self) -> None:
        from intake_service.issue.service import phone_index

        if self.phone_index is None and isinstance(self.phone, str):
            self.phone_index = phone_index(self.phone)


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
