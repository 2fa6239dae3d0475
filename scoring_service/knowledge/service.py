"""Consultations answered from the knowledge base (知识库解答), as scoring counts them: still
service items (办件) among the requests, and here how many and with how many distinct answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.models import KnowledgeAnswerFact
from shared.events import RequestAnsweredByKnowledge


@dataclass
class KnowledgeCounts:
    answered: int = 0
    articles_used: int = 0


async def apply_answer(session: AsyncSession, event: RequestAnsweredByKnowledge) -> None:
    """One fact per request: intake answers a repeated call without a second event, and a
    redelivered one finds its fact."""
    if await session.get(KnowledgeAnswerFact, event.request_id) is not None:
        return
    session.add(
        KnowledgeAnswerFact(
            request_id=event.request_id,
            tracking_no=event.tracking_no,
            article_id=event.article_id,
            version=event.version,
            answered_at=event.answered_at,
        )
    )


async def knowledge_counts(
    session: AsyncSession, since: datetime, until: datetime
) -> KnowledgeCounts:
    """Answers given in ``[since, until)`` (the answered_at index) and the distinct articles."""
    row = (
        await session.execute(
            select(
                func.count().label("answered"),
                func.count(func.distinct(KnowledgeAnswerFact.article_id)).label("articles"),
            ).where(
                KnowledgeAnswerFact.answered_at >= since, KnowledgeAnswerFact.answered_at < until
            )
        )
    ).one()
    return KnowledgeCounts(answered=int(row.answered), articles_used=int(row.articles))
