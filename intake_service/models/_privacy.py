"""Who read or erased a request's personal data (个人信息访问记录), for the auditors: never the
values themselves."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from intake_service.models._base import Model
from intake_service.models._issue import Issue
from services.models import UTCDateTime, utcnow


class IdentityAccess(Model):
    """One request's personal data revealed to (or erased by) someone, once: a staff list page
    writes a row per request that showed a name or phone."""

    __tablename__ = "identity_access"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    unit_code: Mapped[str | None] = mapped_column(String(64))
    # No foreign key: the log outlives whatever happens to the request.
    issue_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    tracking_no: Mapped[str] = mapped_column(String(32), nullable=False)
    # whistleblower_identity | personal_fields | export | erasure
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(String(100), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_identity_access_at", "at", "id"),
        Index("ix_identity_access_tracking_no", "tracking_no", "at"),
        Index("ix_identity_access_actor", "actor", "at"),
    )


# The retention job's candidates (archived, not yet erased, oldest first) without a scan of
# every request. Declared here, beside the job's other table, on the issue table.
RETENTION_CANDIDATES = "status = 'closed' AND personal_erased_at IS NULL"
Index(
    "ix_issue_retention_candidates",
    Issue.__table__.c.status_changed_at,
    postgresql_where=text(RETENTION_CANDIDATES),
    sqlite_where=text(RETENTION_CANDIDATES),
)
