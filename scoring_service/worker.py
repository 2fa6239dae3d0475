"""The scoring worker: keeps scoring's fact tables current from intake's and routing's events."""

from typing import Any

from arq import cron
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service import facts
from scoring_service.evaluation import tallies
from scoring_service.evaluation.service import Month
from scoring_service.feedback.service import feedback_service
from scoring_service.knowledge.service import apply_answer
from scoring_service.radar.service import apply_hot_issue, lock_hot_issues
from scoring_service.spec import spec
from services.db import run_after_commit
from services.inbox import EventHandler, Prefetch
from services.models import utcnow
from services.worker import build_worker_settings
from shared.events import (
    CardSnapshot,
    CaseSnapshot,
    EventEnvelope,
    HotIssueSnapshot,
    ProjectSnapshot,
    RequestAnsweredByKnowledge,
    RequestPersonalDataErased,
    RequestSubmitted,
    VisitLogged,
)


async def on_request_submitted(session: AsyncSession, envelope: EventEnvelope) -> None:
    await facts.apply_request(session, RequestSubmitted.model_validate(envelope.data))


async def on_personal_data_erased(session: AsyncSession, envelope: EventEnvelope) -> None:
    await facts.apply_personal_data_erased(
        session, RequestPersonalDataErased.model_validate(envelope.data)
    )


async def on_case_snapshot(session: AsyncSession, envelope: EventEnvelope) -> None:
    await facts.apply_case(session, CaseSnapshot.model_validate(envelope.data))


async def on_card_snapshot(session: AsyncSession, envelope: EventEnvelope) -> None:
    await facts.apply_card(session, CardSnapshot.model_validate(envelope.data))


async def on_project_snapshot(session: AsyncSession, envelope: EventEnvelope) -> None:
    await facts.apply_project(
        session, ProjectSnapshot.model_validate(envelope.data), envelope.occurred_at
    )


async def on_visit_logged(session: AsyncSession, envelope: EventEnvelope) -> None:
    await facts.apply_visit(session, VisitLogged.model_validate(envelope.data))


async def on_hot_issue_snapshot(session: AsyncSession, envelope: EventEnvelope) -> None:
    await apply_hot_issue(session, HotIssueSnapshot.model_validate(envelope.data))


async def on_answered_by_knowledge(session: AsyncSession, envelope: EventEnvelope) -> None:
    await apply_answer(session, RequestAnsweredByKnowledge.model_validate(envelope.data))


async def expire_revisits(ctx: dict[str, Any]) -> int:
    """Close revisits whose window is over, so routing can archive their cases (归档)."""
    async with ctx["sessionmaker"]() as session:
        expired = await feedback_service.expire_revisits(session)
        await session.commit()
        await run_after_commit(session, ctx["queue_client"])
    return expired


async def build_tallies(ctx: dict[str, Any]) -> bool:
    """Fill the evaluation's roll-ups if they never were (first start after the upgrade)."""
    async with ctx["sessionmaker"]() as session:
        return await tallies.ensure_built(session)


async def check_tallies(ctx: dict[str, Any]) -> int:
    """Nightly: this month's and last month's roll-ups against a recount from the facts,
    repaired where they differ (a fact written by a worker older than the roll-ups)."""
    async with ctx["sessionmaker"]() as session:
        if not await tallies.ready(session):
            return 0
        this = Month.containing(utcnow())
        last = Month(this.year - 1, 12) if this.month == 1 else Month(this.year, this.month - 1)
        return await tallies.check(session, [last, this])


HANDLERS: dict[str, EventHandler] = {
    RequestSubmitted.TYPE: on_request_submitted,
    RequestPersonalDataErased.TYPE: on_personal_data_erased,
    CaseSnapshot.TYPE: on_case_snapshot,
    CardSnapshot.TYPE: on_card_snapshot,
    ProjectSnapshot.TYPE: on_project_snapshot,
    VisitLogged.TYPE: on_visit_logged,
    RequestAnsweredByKnowledge.TYPE: on_answered_by_knowledge,
    HotIssueSnapshot.TYPE: on_hot_issue_snapshot,
}

# Read and locked once per group of events (see EventConsumer).
PREFETCH: dict[str, Prefetch] = {
    CaseSnapshot.TYPE: facts.lock_cases,
    CardSnapshot.TYPE: facts.lock_cards,
    ProjectSnapshot.TYPE: facts.lock_projects,
    HotIssueSnapshot.TYPE: lock_hot_issues,
}

WorkerSettings = build_worker_settings(
    spec,
    handlers=HANDLERS,
    prefetch=PREFETCH,
    cron_jobs=[
        cron(
            build_tallies,
            name="scoring.build_tallies",
            minute={0, 10, 20, 30, 40, 50},
            second={13},
            run_at_startup=True,
            unique=True,
            timeout=3600,
            keep_result=0,
        ),
        cron(
            check_tallies,
            name="scoring.check_tallies",
            hour={18},  # 02:40 in Asia/Shanghai
            minute={40},
            second={0},
            unique=True,
            timeout=3600,
            keep_result=0,
        ),
        cron(
            expire_revisits,
            name="scoring.expire_revisits",
            minute=None,
            second={7},
            unique=True,
            timeout=30,
            keep_result=0,
        ),
    ],
)
