from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Result,
    Row,
    Select,
    bindparam,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from intake_service.models import Issue, IssueAttachment
from services.db import locked_row
from shared.enums import RequestStatus

# The checks every submission runs (duplicates, related requests) read in one round trip, from
# statements built once with bound parameters: building, caching and sending a statement per
# check cost more CPU than the queries themselves. Core columns: rows, no ORM objects.
_issue = Issue.__table__.c
# What the duplicate and related checks read of an earlier request.
_CHECKED = (_issue.id, _issue.tracking_no, _issue.type, _issue.title, _issue.description,
            _issue.duplicate_of_id, _issue.submitter_key, _issue.received_at)  # fmt: skip
_BRIEF_BY_ID = select(*_CHECKED).where(_issue.id == bindparam("id"))


def _checks_statement(*, in_area: bool) -> CompoundSelect[Any]:
    by_submitter = (
        select(literal_column("true").label("by_submitter"), *_CHECKED)
        .where(
            _issue.submitter_key == bindparam("submitter_key"),
            _issue.received_at >= bindparam("since"),
            _issue.status != RequestStatus.withdrawn.value,
        )
        .order_by(_issue.received_at)
        .limit(100)
    )
    by_topic = select(literal_column("false").label("by_submitter"), *_CHECKED).where(
        _issue.topic == bindparam("topic"), _issue.received_at >= bindparam("since")
    )
    if in_area:
        by_topic = by_topic.where(_issue.area_code == bindparam("area_code"))
    by_topic = by_topic.order_by(_issue.received_at.desc()).limit(bindparam("limit", type_=Integer))
    return union_all(by_submitter, by_topic)


_CHECKS = _checks_statement(in_area=False)
_CHECKS_IN_AREA = _checks_statement(in_area=True)


@dataclass(frozen=True)
class RecentRequests:
    """What a submission is checked against (:meth:`IssueRepository.recent_for_checks`)."""

    by_submitter: list[Row[Any]]  # the submitter's, oldest first
    by_topic: list[Row[Any]]  # the topic's (in the area), newest first


def _received(row: Row[Any]) -> datetime:
    return row.received_at  # type: ignore[no-any-return]


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

    async def recent_for_checks(
        self,
        submitter_key: str | None,
        topic: str,
        since: datetime,
        *,
        area_code: str | None,
        limit: int,
    ) -> RecentRequests:
        """The submitter's recent requests (up to 100, not withdrawn) for the duplicate check and
        the topic's ``limit`` most recent (in ``area_code`` when given) for the related check,
        in one statement (this runs on every submission)."""
        params: dict[str, Any] = {"submitter_key": submitter_key, "topic": topic, "since": since,
                                  "limit": limit}  # fmt: skip
        if area_code:
            params["area_code"] = area_code
        statement = _CHECKS_IN_AREA if area_code else _CHECKS
        rows = (await self._core(statement, params)).all()
        # UNION ALL promises no order across its branches: each list is put in its own.
        return RecentRequests(
            by_submitter=sorted((r for r in rows if r.by_submitter), key=_received),
            by_topic=sorted((r for r in rows if not r.by_submitter), key=_received, reverse=True),
        )

    async def brief(self, issue_id: uuid.UUID) -> Row[Any] | None:
        """One request in the shape of :meth:`recent_for_checks`' rows."""
        return (await self._core(_BRIEF_BY_ID, {"id": issue_id})).first()

    async def _core(
        self, statement: Select[Any] | CompoundSelect[Any], params: dict[str, Any]
    ) -> Result[Any]:
        # The session's connection: a Core statement needs none of the ORM's execution layer.
        connection = await self.session.connection()
        result: Result[Any] = await connection.execute(statement, params)
        return result

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
