from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from routing_service.models._base import Model
from services.crypto import SealedJSON
from services.models import JSONType, UTCDateTime, utcnow


class WebhookSubscription(Model):
    """Where one owner's events are sent. The owner is a unit (a department's system) or a
    channel (the backend of the app, the smart hall, the hotline console…, subscribed through
    the intake service: 原渠道反馈); exactly one of ``unit_id`` and ``channel`` is set."""

    __tablename__ = "webhook_subscription"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    channel: Mapped[str | None] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    # After a rotation the replaced secret keeps signing, alongside the new one, until then.
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        CheckConstraint(
            "(unit_id IS NOT NULL AND channel IS NULL) OR (unit_id IS NULL AND channel IS NOT NULL)",
            name="one_owner",
        ),
    )


class WebhookDelivery(Model):
    """One message to one subscription. Written with the change that caused it; the delivery job
    and a sweep over ``next_attempt_at`` send it until it succeeds or is dead-lettered."""

    __tablename__ = "webhook_delivery"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id"), index=True, nullable=False
    )
    message_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    # Sealed (SM4): a case's snapshot names its submitter.
    payload: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("webhook_delivery.payload"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_delivery_subscription_created", "subscription_id", "created_at"),
        Index("ix_webhook_delivery_created_at", "created_at"),
        Index(
            "ix_webhook_delivery_pending",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )
