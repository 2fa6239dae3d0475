"""Project and step facts for the agency tests, fed through the scoring worker's real handlers
(``scoring_service.worker.HANDLERS`` behind the inbox consumer), as routing's events arrive."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from scoring_service.models import InboxEvent
from scoring_service.worker import HANDLERS, PREFETCH
from services.auth import issue_token, service_token
from services.db import AsyncSessionMaker
from services.inbox import EventConsumer
from shared.calendar import SHANGHAI
from shared.enums import CardRole, CardStatus, ProjectLevel, ProjectStage
from shared.events import CardSnapshot, EventEnvelope, ProjectSnapshot, StageDates


def relay() -> dict[str, str]:
    """The intake service's credentials, fresh: a token made at import would expire in a long run."""
    return {"Authorization": f"Bearer {service_token('intake')}"}


def sh(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def staff(role: str, unit_code: str, unit_path: str) -> dict[str, str]:
    raw = issue_token(
        subject=f"{role}@{unit_code}", role=role, unit_code=unit_code, unit_path=unit_path
    )
    return {"Authorization": f"Bearer {raw}"}


def envelope(data: CardSnapshot | ProjectSnapshot, at: datetime | None = None) -> dict[str, Any]:
    """The event routing sends; ``at`` is when it sent it (its ``occurred_at``)."""
    event = EventEnvelope(type=data.TYPE, source="routing", data=data.model_dump(mode="json"))
    if at is not None:
        event.occurred_at = at
    return event.model_dump(mode="json")


async def feed(sessionmaker: AsyncSessionMaker, *envelopes: dict[str, Any]) -> None:
    consumer = EventConsumer(InboxEvent, HANDLERS, prefetch=PREFETCH, name="scoringprojects")
    ctx = {"sessionmaker": sessionmaker, "job_try": 1}
    for item in envelopes:
        assert await consumer(ctx, item) == "handled"


def project(
    *,
    level: ProjectLevel = ProjectLevel.city,
    stage: ProjectStage = ProjectStage.planned,
    created: datetime,
    reached: dict[ProjectStage, date] | None = None,
    revision: int = 1,
    project_id: uuid.UUID | None = None,
    tracking_no: str | None = None,
    center: tuple[str, str] = ("HS-GM", "/HS/HS-GM/"),
) -> ProjectSnapshot:
    project_id = project_id or uuid.uuid4()
    return ProjectSnapshot(
        project_id=project_id,
        revision=revision,
        tracking_no=tracking_no or f"XM{project_id.hex[:10].upper()}",
        name="年产十万吨新材料项目",
        enterprise_name="邯郸新材料科技有限公司",
        uscc="91130400MA0PROJ01X",
        investment="52000.50",
        industry="新材料",
        level=level,
        stage=stage,
        area_unit_code=center[0],
        area_unit_path=center[1],
        center_unit_code=center[0],
        center_unit_path=center[1],
        stage_dates={s: StageDates(actual=d) for s, d in (reached or {}).items()},
        created_at=created,
    )


def step(
    *,
    unit: tuple[str, str] = ("DEPT-ZJ", "区住房和城乡建设局"),
    project_id: uuid.UUID | None = None,
    role: CardRole = CardRole.step,
    status: CardStatus = CardStatus.approved,
    dispatched: datetime,
    due: datetime,
    submitted: datetime | None = None,
    approved: datetime | None = None,
    returned: datetime | None = None,
    working_days: int | None = None,
    limit_days: int | None = 5,
    on_spot: bool = False,
    level: str = "none",
    listed: bool = False,
) -> CardSnapshot:
    return CardSnapshot.model_validate(
        {
            "card_id": uuid.uuid4(),
            "case_id": uuid.uuid4(),
            "revision": 1,
            "unit_code": unit[0],
            "unit_path": f"/HS/{unit[0]}/",
            "unit_name": unit[1],
            "unit_kind": "department",
            "role": role,
            "status": status,
            "dispatched_at": dispatched,
            "sign_due_at": dispatched + timedelta(hours=2),
            "signed_at": dispatched + timedelta(minutes=30),
            "original_due_at": due,
            "due_at": due,
            "returned_at": returned,
            "submitted_at": submitted,
            "approved_at": approved,
            "working_days_taken": working_days,
            "supervision_level": level,
            "listed": listed,
            "project_id": project_id or (uuid.uuid4() if role == CardRole.step else None),
            "procedure_code": "JS-SGXK" if role == CardRole.step else None,
            "limit_days": limit_days if role == CardRole.step else None,
            "on_spot": on_spot,
        }
    )
