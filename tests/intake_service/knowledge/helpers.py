"""Articles as routing publishes them, applied through intake's real worker handlers
(``intake_service.worker.HANDLERS`` behind the inbox consumer)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from intake_service.models import InboxEvent
from intake_service.worker import HANDLERS, PREFETCH
from services.db import AsyncSessionMaker
from services.inbox import EventConsumer
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import Topic
from shared.events import EventEnvelope, KnowledgeArticlePublished, KnowledgeArticleWithdrawn


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


def published(
    *,
    question: str = "园区公交线路和班次在哪里查询?",
    answer: str = "园区公交线路由区交通运输局负责,可在邯郸公交APP查询班次,或拨打12345咨询。",
    keywords: list[str] | None = None,
    topic: Topic = Topic.transport,
    version: int = 1,
    article_id: uuid.UUID | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    at: datetime | None = None,
    unit: tuple[str, str] = ("DEPT-JT", "区交通运输局"),
) -> KnowledgeArticlePublished:
    return KnowledgeArticlePublished(
        article_id=article_id or uuid.uuid4(),
        version=version,
        question=question,
        answer=answer,
        topic=topic,
        unit_code=unit[0],
        unit_name=unit[1],
        keywords=keywords if keywords is not None else ["公交", "班次"],
        legal_basis="《城市公共交通条例》",
        valid_from=valid_from,
        valid_until=valid_until,
        published_at=at or utcnow(),
    )


def withdrawn(article_id: uuid.UUID, at: datetime | None = None) -> KnowledgeArticleWithdrawn:
    return KnowledgeArticleWithdrawn(article_id=article_id, withdrawn_at=at or utcnow())


def envelope(data: KnowledgeArticlePublished | KnowledgeArticleWithdrawn) -> dict[str, Any]:
    event = EventEnvelope(type=data.TYPE, source="routing", data=data.model_dump(mode="json"))
    return event.model_dump(mode="json")


async def feed(
    sessionmaker: AsyncSessionMaker, *events: KnowledgeArticlePublished | KnowledgeArticleWithdrawn
) -> None:
    """Apply routing's events one after another, as intake's worker does."""
    consumer = EventConsumer(InboxEvent, HANDLERS, prefetch=PREFETCH, name="intakeknowledge")
    ctx = {"sessionmaker": sessionmaker, "job_try": 1}
    for event in events:
        assert await consumer(ctx, envelope(event)) == "handled"
