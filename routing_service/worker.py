"""The routing worker: creates cases from intake's events, runs the supervision ladder and
delivers department webhooks."""

import uuid
from collections.abc import Sequence
from typing import Any

from arq import cron
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment.service import case_service
from routing_service.config import settings
from routing_service.deadline.supervision import supervision_service
from routing_service.department.token_cutoffs import republish_token_cutoffs
from routing_service.knowledge.answered import answer_from_knowledge
from routing_service.knowledge.service import knowledge_service
from routing_service.models import Case
from routing_service.radar.service import radar_service
from routing_service.spec import spec
from routing_service.webhook.tasks import WEBHOOK_CRON_JOBS, WEBHOOK_FUNCTIONS
from services.db import lock_rows, run_after_commit
from services.inbox import EventHandler
from services.worker import build_worker_settings
from shared.events import (
    CasePlaced,
    EventEnvelope,
    RatingRecorded,
    RequestAnsweredByKnowledge,
    RequestPersonalDataErased,
    RequestSubmitted,
    RequestSupplemented,
    RequestWithdrawn,
    RevisitExpired,
)


async def on_request_submitted(session: AsyncSession, envelope: EventEnvelope) -> None:
    await case_service.create_from_request(session, RequestSubmitted.model_validate(envelope.data))


async def lock_request_cases(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    """Which of a group's new requests already have a case, read (and locked) in one statement."""
    requests = (uuid.UUID(e.data["request_id"]) for e in envelopes)
    await lock_rows(session, Case, requests, by=Case.request_id)


async def on_request_withdrawn(session: AsyncSession, envelope: EventEnvelope) -> None:
    await case_service.withdraw(session, RequestWithdrawn.model_validate(envelope.data))


async def on_personal_data_erased(session: AsyncSession, envelope: EventEnvelope) -> None:
    await case_service.erase_submitter(
        session, RequestPersonalDataErased.model_validate(envelope.data)
    )


async def on_request_supplemented(session: AsyncSession, envelope: EventEnvelope) -> None:
    await case_service.supplement(session, RequestSupplemented.model_validate(envelope.data))


async def on_rating_recorded(session: AsyncSession, envelope: EventEnvelope) -> None:
    await case_service.archive_after_rating(session, RatingRecorded.model_validate(envelope.data))


async def on_revisit_expired(session: AsyncSession, envelope: EventEnvelope) -> None:
    event = RevisitExpired.model_validate(envelope.data)
    await case_service.archive_unrated(session, event.case_id, event.round)


async def on_request_answered_by_knowledge(session: AsyncSession, envelope: EventEnvelope) -> None:
    await answer_from_knowledge(session, RequestAnsweredByKnowledge.model_validate(envelope.data))


async def on_case_placed(session: AsyncSession, envelope: EventEnvelope) -> None:
    await radar_service.place(session, CasePlaced.model_validate(envelope.data).case_id)


async def knowledge_expiry(ctx: dict[str, Any]) -> dict[str, int]:
    """Tell departments about their published answers that expire soon (once per version),
    a batch per transaction until none is left."""
    warned = 0
    while True:
        async with ctx["sessionmaker"]() as session:
            batch = await knowledge_service.warn_expiring(session)
            await session.commit()
            await run_after_commit(session, ctx["queue_client"])
        warned += batch
        if batch == 0:
            return {"warned": warned}


async def supervision_tick(ctx: dict[str, Any]) -> dict[str, int]:
    """Apply every supervision step that has come due (cost ∝ what is due)."""
    async with ctx["sessionmaker"]() as session:
        result = await supervision_service.tick(session)
        await session.commit()
        await run_after_commit(session, ctx["queue_client"])
    return {"cards": result.cards, "steps": result.steps}


HANDLERS: dict[str, EventHandler] = {
    RequestSubmitted.TYPE: on_request_submitted,
    RequestWithdrawn.TYPE: on_request_withdrawn,
    RequestSupplemented.TYPE: on_request_supplemented,
    RequestPersonalDataErased.TYPE: on_personal_data_erased,
    RatingRecorded.TYPE: on_rating_recorded,
    RequestAnsweredByKnowledge.TYPE: on_request_answered_by_knowledge,
    RevisitExpired.TYPE: on_revisit_expired,
    CasePlaced.TYPE: on_case_placed,
}

WorkerSettings = build_worker_settings(
    spec,
    handlers=HANDLERS,
    prefetch={RequestSubmitted.TYPE: lock_request_cases},
    functions=WEBHOOK_FUNCTIONS,
    cron_jobs=[
        cron(
            supervision_tick,
            name="routing.supervision_tick",
            second=set(range(0, 60, max(1, settings.supervision_tick_seconds))),
            unique=True,
            run_at_startup=True,
            timeout=30,
            keep_result=0,
        ),
        # Refills the cutoff hash each minute (a lost publish, a restarted Redis): a revoked
        # staff token stays revoked everywhere.
        cron(
            republish_token_cutoffs,
            name="routing.republish_token_cutoffs",
            second=23,
            unique=True,
            run_at_startup=True,
            timeout=30,
            keep_result=0,
        ),
        # Once a day (and at startup: a missed morning is caught up; warned_at keeps it once).
        cron(
            knowledge_expiry,
            name="routing.knowledge_expiry",
            hour=1,
            minute=17,
            second=0,
            unique=True,
            run_at_startup=True,
            timeout=30,
            keep_result=0,
        ),
        *WEBHOOK_CRON_JOBS,
    ],
)
