"""The intake worker: keeps submitter-facing status current from routing's events, keeps the
published knowledge base from routing's publications and withdrawals, erases personal data past
its retention, and relays the outbox."""

import uuid
from collections.abc import Sequence
from typing import Any

from arq import cron
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.issue.service import issue_service
from intake_service.knowledge.service import knowledge_service
from intake_service.models import Issue, KnowledgeArticle
from intake_service.privacy.service import RETENTION_JOB, privacy_service
from intake_service.spec import spec
from services.db import lock_rows
from services.inbox import EventHandler, Prefetch
from services.models import utcnow
from services.worker import build_worker_settings
from shared.events import (
    CaseStatusChanged,
    EventEnvelope,
    KnowledgeArticlePublished,
    KnowledgeArticleWithdrawn,
)


async def lock_requests(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    """The requests a group of status changes will update, read and locked in one statement."""
    await lock_rows(session, Issue, (uuid.UUID(e.data["request_id"]) for e in envelopes))


async def on_case_status_changed(session: AsyncSession, envelope: EventEnvelope) -> None:
    await issue_service.apply_status(session, CaseStatusChanged.model_validate(envelope.data))


async def lock_articles(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    """The articles a group of publications will update, read and locked at once."""
    await lock_rows(session, KnowledgeArticle, (uuid.UUID(e.data["article_id"]) for e in envelopes))


async def on_knowledge_published(session: AsyncSession, envelope: EventEnvelope) -> None:
    await knowledge_service.apply_published(
        session, KnowledgeArticlePublished.model_validate(envelope.data)
    )


async def on_knowledge_withdrawn(session: AsyncSession, envelope: EventEnvelope) -> None:
    await knowledge_service.apply_withdrawn(
        session, KnowledgeArticleWithdrawn.model_validate(envelope.data)
    )


async def erase_personal_data(ctx: dict[str, Any]) -> int:
    """Erase the personal fields of requests archived longer than
    INTAKE_PERSONAL_RETENTION_DAYS (PIPL), in bounded batches."""
    return await privacy_service.erase_expired(ctx["sessionmaker"], ctx["queue_client"], utcnow())


HANDLERS: dict[str, EventHandler] = {
    CaseStatusChanged.TYPE: on_case_status_changed,
    KnowledgeArticlePublished.TYPE: on_knowledge_published,
    KnowledgeArticleWithdrawn.TYPE: on_knowledge_withdrawn,
}

# Withdrawals are rare and lock their one row as they go: a second set locked in another
# order could deadlock with another replica's group.
PREFETCH: dict[str, Prefetch] = {
    CaseStatusChanged.TYPE: lock_requests,
    KnowledgeArticlePublished.TYPE: lock_articles,
}

WorkerSettings = build_worker_settings(
    spec,
    handlers=HANDLERS,
    prefetch=PREFETCH,
    cron_jobs=[
        # Hourly, off the minutes of the kit's crons: a backlog (the first run after an
        # upgrade) drains in runs of bounded batches.
        cron(
            erase_personal_data,
            name=RETENTION_JOB,
            minute={43},
            second=0,
            unique=True,
            timeout=30,
            keep_result=0,
        ),
    ],
)
