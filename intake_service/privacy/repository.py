"""The identity-access log (written in one statement per request) and the retention candidates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.models import IdentityAccess, Issue
from intake_service.privacy.schemas import IdentityAccessFilters
from services.db import row_locks
from services.filters import within_days
from services.pagination import Key, Keyset, read_page
from shared.enums import RequestStatus
from shared.events import ErasureReason

# What erasure clears: the person's name, phone and e-mail, and the blind indexes that stand for
# them. The credit code and the enterprise name are an enterprise's public registry identity.
ERASED_COLUMNS = ("submitter_name", "submitter_phone", "submitter_email", "phone_index",
                  "submitter_key")  # fmt: skip

NEWEST = Keyset((Key(IdentityAccess.at, "datetime", True), Key(IdentityAccess.id, "uuid", True)))


@dataclass(frozen=True, slots=True)
class Revealed:
    """One request whose personal data a call revealed or erased."""

    issue_id: uuid.UUID
    tracking_no: str
    kind: str


@dataclass(frozen=True, slots=True)
class Accessor:
    """Who, through which operation of which API call."""

    actor: str
    role: str
    unit_code: str | None
    endpoint: str
    request_id: str | None


@dataclass
class IdentityAccessRepository:
    session: AsyncSession

    @classmethod
    def from_session(cls, session: AsyncSession) -> IdentityAccessRepository:
        return cls(session)

    async def record(
        self,
        who: Accessor,
        revealed: Sequence[Revealed],
        *,
        reason: str | None,
        at: datetime,
    ) -> None:
        if not revealed:
            return
        rows = [
            {
                "id": uuid.uuid4(),
                "at": at,
                "actor": who.actor,
                "role": who.role,
                "unit_code": who.unit_code,
                "issue_id": item.issue_id,
                "tracking_no": item.tracking_no,
                "kind": item.kind,
                "reason": reason,
                "endpoint": who.endpoint,
                "request_id": who.request_id,
            }  # fmt: skip
            for item in revealed
        ]
        # One multi-row INSERT, whatever the page size.
        await self.session.execute(insert(IdentityAccess).values(rows))

    async def page(
        self, filters: IdentityAccessFilters, fingerprint: str
    ) -> tuple[list[IdentityAccess], str | None, int | None]:
        stmt = select(IdentityAccess)
        if filters.tracking_no:
            stmt = stmt.where(IdentityAccess.tracking_no == filters.tracking_no.upper())
        if filters.actor:
            stmt = stmt.where(IdentityAccess.actor == filters.actor)
        if filters.kind:
            stmt = stmt.where(IdentityAccess.kind == filters.kind.value)
        stmt = stmt.where(*within_days(IdentityAccess.at, filters.from_, filters.to))
        return await read_page(
            self.session, stmt, NEWEST, cursor=filters.cursor, limit=filters.limit,
            fingerprint=fingerprint, with_total=filters.with_total,
        )  # fmt: skip

    async def retention_candidates(
        self, cutoff: datetime, limit: int
    ) -> Sequence[Row[uuid.UUID, str]]:
        """Archived before ``cutoff``, neither confidential nor anonymous, not yet erased:
        the oldest first, locked (rows another replica holds are left to it)."""
        stmt = (
            select(Issue.id, Issue.tracking_no)
            .where(
                Issue.status == RequestStatus.closed.value,
                Issue.personal_erased_at.is_(None),
                Issue.status_changed_at < cutoff,
                Issue.confidential.is_(False),
                Issue.anonymous.is_(False),
            )
            .order_by(Issue.status_changed_at)
            .limit(limit)
        )
        if row_locks(self.session):
            stmt = stmt.with_for_update(skip_locked=True)
        return (await self.session.execute(stmt)).all()

    async def erase(self, ids: Sequence[uuid.UUID], reason: ErasureReason, at: datetime) -> None:
        """Clear :data:`ERASED_COLUMNS` of these requests and mark them erased."""
        await self.session.execute(
            update(Issue)
            .where(Issue.id.in_(ids))
            .values(
                **dict.fromkeys(ERASED_COLUMNS),
                personal_erased_at=at,
                personal_erasure_reason=reason,
            )
            .execution_options(synchronize_session=False)
        )
