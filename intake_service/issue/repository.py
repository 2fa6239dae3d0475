from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from intake_service.models import Issue, IssueAttachment
from services.db import locked_row
from shared.enums import RequestStatus

# What the duplicate check needs of an earlier request.
_BRIEF = (
    Issue.id,
    Issue.tracking_no,
    Issue.type,
    Issue.title,
    Issue.description,
    Issue.duplicate_of_id,
)


class IssueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> IssueRepository:
        return cls(session)

    def get_base_statement(self) -> Select[Issue]:
        return select(Issue)

    async def get_by_tracking_no(
        self, tracking_no: str, *, with_history: bool = False, refresh: bool = False
    ) -> Issue | None:
        stmt = self.get_base_statement().where(Issue.tracking_no == tracking_no)
        if with_history:
            stmt = stmt.options(selectinload(Issue.history), selectinload(Issue.attachments))
        if refresh:
            stmt = stmt.execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def get_by_id(self, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | None:
        # Status events for one request may be applied by two workers at once: lock the row so
        # the older one cannot win (lost update). A group of events locked its rows at once.
        if for_update:
            return await locked_row(self.session, Issue, issue_id)
        return await self.session.get(Issue, issue_id)

    async def recent_by_submitter(
        self, submitter_key: str, since: datetime
    ) -> Sequence[Row[uuid.UUID, str, str, str, str, uuid.UUID | None]]:
        """The submitter's recent requests, only the columns the duplicate check reads (this
        runs on every submission: no ORM objects)."""
        stmt = (
            select(*_BRIEF)
            .where(
                Issue.submitter_key == submitter_key,
                Issue.received_at >= since,
                Issue.status != RequestStatus.withdrawn.value,
            )
            .order_by(Issue.received_at)
            .limit(100)
        )
        return (await self.session.execute(stmt)).all()

    async def brief(
        self, issue_id: uuid.UUID
    ) -> Row[uuid.UUID, str, str, str, str, uuid.UUID | None] | None:
        """One request in the shape of :meth:`recent_by_submitter`."""
        return (await self.session.execute(select(*_BRIEF).where(Issue.id == issue_id))).first()

    async def recent_by_topic(
        self, topic: str, since: datetime, *, area_code: str | None, limit: int
    ) -> Sequence[Row[str, str | None, uuid.UUID | None, str, str]]:
        """Recent same-topic requests, only the columns the 'related' comparison reads (this
        runs on every submission: no ORM objects)."""
        stmt = select(
            Issue.tracking_no,
            Issue.submitter_key,
            Issue.duplicate_of_id,
            Issue.title,
            Issue.description,
        ).where(Issue.topic == topic, Issue.received_at >= since)
        if area_code:
            stmt = stmt.where(Issue.area_code == area_code)
        stmt = stmt.order_by(Issue.received_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).all()

    async def unattached_uploads(
        self, upload_ids: Sequence[uuid.UUID], api_key_id: uuid.UUID | None
    ) -> Sequence[IssueAttachment]:
        if not upload_ids:
            return []
        stmt = select(IssueAttachment).where(
            IssueAttachment.id.in_(upload_ids),
            IssueAttachment.issue_id.is_(None),
            IssueAttachment.kind == "upload",
        )
        if api_key_id is not None:
            stmt = stmt.where(IssueAttachment.api_key_id == api_key_id)
        return (await self.session.scalars(stmt)).all()

    async def tracking_nos(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Issue.id, Issue.tracking_no).where(Issue.id.in_(ids))
        )
        return {row.id: row.tracking_no for row in rows}
