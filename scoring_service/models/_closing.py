"""Closed months: the scorecards of a month frozen when it closes, one version per recompute."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKeyConstraint, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scoring_service.models._base import Model
from services.models import JSONType, UTCDateTime


class MonthlyScorecardClose(Model):
    """One version of a closed month: version 1 is the close, each recompute adds the next.

    The month's policy is frozen with it, so a later policy change does not rescore it either.
    """

    __tablename__ = "monthly_scorecard_close"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7), nullable=False)  # YYYY-MM
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # close | recompute
    reason: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    closed_by: Mapped[str] = mapped_column(String(120), nullable=False)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    # Two concurrent closes (or recomputes) of a month cannot both write the same version.
    __table_args__ = (UniqueConstraint("month", "version", name="uq_monthly_scorecard_close"),)


class MonthlyScorecardSnapshot(Model):
    """One unit's scorecard in one version of a closed month, as served while it is current."""

    __tablename__ = "monthly_scorecard_snapshot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_code: Mapped[str] = mapped_column(String(32), nullable=False)
    unit_kind: Mapped[str] = mapped_column(String(32), nullable=False)
    score: Mapped[float | None] = mapped_column(Float)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)  # the Scorecard

    __table_args__ = (
        UniqueConstraint("month", "version", "unit_code", name="uq_monthly_scorecard_snapshot"),
        ForeignKeyConstraint(
            ["month", "version"],
            ["monthly_scorecard_close.month", "monthly_scorecard_close.version"],
            name="fk_monthly_scorecard_snapshot_close",
            ondelete="CASCADE",
        ),
    )
