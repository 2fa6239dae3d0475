"""Proposed changes, measured before anyone makes them: ASGI apps that are the shipped service
apps with one function replaced. Only the benchmark uses these (``uvicorn bench.preview:…``); the
figures they produce are labelled *preview* and never count as the product's result.

``intake_app`` — the related-request scan (``IssueRepository.recent_by_topic``) reads only the
five columns the comparison needs, as plain rows, instead of up to 200 full ``Issue`` entities
through the ORM identity map. ``IssueService.submit`` only reads ``tracking_no``, ``title``,
``description``, ``submitter_key`` and ``duplicate_of_id`` from what the scan returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from intake_service.issue.repository import IssueRepository
from intake_service.models import Issue


async def _recent_by_topic(
    self: IssueRepository, topic: str, since: datetime, *, area_code: str | None, limit: int
) -> Sequence[Any]:
    stmt = select(
        Issue.tracking_no,
        Issue.title,
        Issue.description,
        Issue.submitter_key,
        Issue.duplicate_of_id,
    ).where(Issue.topic == topic, Issue.received_at >= since)
    if area_code:
        stmt = stmt.where(Issue.area_code == area_code)
    stmt = stmt.order_by(Issue.received_at.desc()).limit(limit)
    return (await self.session.execute(stmt)).all()


IssueRepository.recent_by_topic = _recent_by_topic  # type: ignore[method-assign,assignment]

from intake_service.app import app as intake_app  # noqa: E402

__all__ = ["intake_app"]
