"""Routing's gauges: overdue open cards per unit (what the overdue-spike alert watches)."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import Card, OrgUnit

CARDS_OVERDUE = Gauge(
    "yingshang_cards_overdue", "Open cards past their due time (red card or worse)", ["unit"]
)
_OVERDUE_LEVELS = ("red", "listed", "escalated")


async def refresh(session: AsyncSession) -> None:
    # Matches the partial index ix_card_overdue_open, so the scrape reads only overdue cards.
    rows = await session.execute(
        select(OrgUnit.code, func.count())
        .select_from(Card)
        .join(OrgUnit, OrgUnit.id == Card.unit_id)
        .where(
            Card.status.in_(("dispatched", "signed")), Card.supervision_level.in_(_OVERDUE_LEVELS)
        )
        .group_by(OrgUnit.code)
    )
    CARDS_OVERDUE.clear()
    for code, count in rows:
        CARDS_OVERDUE.labels(code).set(count)
