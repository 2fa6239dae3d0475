"""The intake worker: keeps submitter-facing status current from routing's events, and relays
the outbox."""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.issue.service import issue_service
from intake_service.models import Issue
from intake_service.spec import spec
from services.db import lock_rows
from services.inbox import EventHandler
from services.worker import build_worker_settings
from shared.events import CaseStatusChanged, EventEnvelope


async def lock_requests(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    """The requests a group of status changes will update, read and locked in one statement."""
    await lock_rows(session, Issue, (uuid.UUID(e.data["request_id"]) for e in envelopes))


async def on_case_status_changed(session: AsyncSession, envelope: EventEnvelope) -> None:
    await issue_service.apply_status(session, CaseStatusChanged.model_validate(envelope.data))


HANDLERS: dict[str, EventHandler] = {CaseStatusChanged.TYPE: on_case_status_changed}

WorkerSettings = build_worker_settings(
    spec, handlers=HANDLERS, prefetch={CaseStatusChanged.TYPE: lock_requests}
)
