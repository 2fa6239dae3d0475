"""The hot-issue radar (热点问题): clusters of related requests by topic × street × time, the
thresholds that make one hot, the alerts sent, and the proactive case (主动治理) handling it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from routing_service.models._base import Model
from services.models import JSONType, UTCDateTime, utcnow


class HotIssue(Model):
    """One cluster: requests of one topic in one street (the area's street center) that say the
    same thing. ``grams`` holds the bigrams (title, and title with text) of its most recent
    members, at most ``radar.service.PROFILE`` of them: what a new request is compared with."""

    __tablename__ = "hot_issue"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    area_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    grams: Mapped[list[dict[str, list[str]]]] = mapped_column(JSONType, nullable=False)
    requests: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    submitters: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # 每月一题: the month (YYYY-MM) the center made it its theme.
    theme_month: Mapped[str | None] = mapped_column(String(7))
    revision: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        # What a new request is compared with: its topic and street's clusters still in the
        # window — an index range, however long the history.
        Index("ix_hot_issue_topic_area_last", "topic", "area_unit_id", "last_at"),
        Index("ix_hot_issue_last_at", "last_at"),
        Index(
            "uq_hot_issue_theme_month_area",
            "theme_month",
            "area_unit_id",
            unique=True,
            postgresql_where=text("theme_month IS NOT NULL"),
            sqlite_where=text("theme_month IS NOT NULL"),
        ),
    )


class HotIssueMember(Model):
    """A request (its case) in a cluster; a request is in one cluster at most."""

    __tablename__ = "hot_issue_member"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    hot_issue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("hot_issue.id"), index=True, nullable=False
    )
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), unique=True, nullable=False)
    # Who submitted, as a key (credit code, phone, or the case for anonymous requests): distinct
    # submitters are what make a cluster hot, not one person writing ten times.
    submitter_key: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    similarity: Mapped[int] = mapped_column(Integer, nullable=False)  # per mille
    joined_by: Mapped[str] = mapped_column(String(120), nullable=False)

    __table_args__ = (Index("ix_hot_issue_member_issue_received", "hot_issue_id", "received_at"),)


class HotIssueAlert(Model):
    """The center was told that a cluster crossed one threshold: once per cluster and threshold."""

    __tablename__ = "hot_issue_alert"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    hot_issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hot_issue.id"), nullable=False)
    threshold: Mapped[str] = mapped_column(String(32), nullable=False)  # "5/7d"
    submitters: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("hot_issue_id", "threshold", name="uq_hot_issue_alert_hot_issue_id"),
    )


class RadarPolicy(Model):
    """The thresholds in force (one row): distinct submitters within a window of days, and how
    alike a request must be to join a cluster."""

    __tablename__ = "radar_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # [{"submitters": 5, "window_days": 7}, …]
    thresholds: Mapped[list[dict[str, int]]] = mapped_column(JSONType, nullable=False)
    similarity: Mapped[int] = mapped_column(Integer, nullable=False)  # per mille
    updated_by: Mapped[str] = mapped_column(String(120), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
