"""The radar's clusters as scoring keeps them (from routing's ``hot_issue.snapshot``) and the
statistics' "top issues this month" and monthly themes (每月一题), without personal data."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.evaluation import schemas
from scoring_service.models import HotIssueFact
from services.db import add_locked, lock_rows, locked_row
from shared.enums import HotIssueState, Topic
from shared.events import EventEnvelope, HotIssueSnapshot

TOP = 5


async def lock_hot_issues(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    await lock_rows(session, HotIssueFact, (uuid.UUID(e.data["hot_issue_id"]) for e in envelopes))


async def apply_hot_issue(session: AsyncSession, snapshot: HotIssueSnapshot) -> None:
    """Keep the newest revision (a late older snapshot is ignored)."""
    current = await locked_row(session, HotIssueFact, snapshot.hot_issue_id)
    if current is not None and current.revision >= snapshot.revision:
        return
    values = {
        "hot_issue_id": snapshot.hot_issue_id, "revision": snapshot.revision,
        "topic": snapshot.topic.value, "area_unit_code": snapshot.area_unit_code,
        "area_unit_name": snapshot.area_unit_name, "area_unit_path": snapshot.area_unit_path,
        "state": snapshot.state.value, "requests": snapshot.requests,
        "submitters": snapshot.submitters, "first_at": snapshot.first_at,
        "last_at": snapshot.last_at, "theme_month": snapshot.theme_month,
    }  # fmt: skip
    if current is None:
        add_locked(session, HotIssueFact(**values), snapshot.hot_issue_id)
    else:
        for key, value in values.items():
            setattr(current, key, value)


def _issue(fact: HotIssueFact) -> schemas.TopIssue:
    topic, state = Topic(fact.topic), HotIssueState(fact.state)
    return schemas.TopIssue(
        topic=topic, topic_label=topic.label_zh, area_unit_name=fact.area_unit_name,
        requests=fact.requests, submitters=fact.submitters, state=state,
        state_label=state.label_zh, theme=fact.theme_month is not None,
    )  # fmt: skip


async def hot_issues(
    session: AsyncSession, end: date, month_start: datetime, until: datetime
) -> schemas.HotIssueStatistics:
    """The month of ``end``: its clusters with a request in it, most submitters first (the
    ``last_at`` index: the month's clusters, not the history), and its themes."""
    rows = (
        await session.scalars(
            select(HotIssueFact)
            .where(HotIssueFact.last_at >= month_start, HotIssueFact.first_at < until,
                   HotIssueFact.requests >= 2)
            .order_by(HotIssueFact.submitters.desc(), HotIssueFact.requests.desc(),
                      HotIssueFact.hot_issue_id)
            .limit(TOP)
        )
    ).all()  # fmt: skip
    month = f"{end.year:04d}-{end.month:02d}"
    themes = (
        await session.scalars(
            select(HotIssueFact)
            .where(HotIssueFact.theme_month == month)
            .order_by(HotIssueFact.area_unit_code)
        )
    ).all()
    return schemas.HotIssueStatistics(
        month=month, top=[_issue(f) for f in rows], themes=[_issue(f) for f in themes]
    )
