"""The supervision ladder (督办阶梯): yellow card 1 working day before due, red card when overdue,
listed supervision (挂牌督办) after 5 working days overdue, escalation (提级) after repeated redo.

A tick reads only the cards whose ``next_check_at`` has come (a partial index), locks them with
SKIP LOCKED so replicas share the work, and records each step in ``supervision_event`` under a
unique key, so every step happens exactly once per card and due date.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts, history
from routing_service.assignment.repository import CardRepository, CaseRepository, UnitRepository
from routing_service.assignment.service import card_payload, case_service
from routing_service.config import settings
from routing_service.deadline import rules
from routing_service.deadline.calendar import calendar_provider
from routing_service.models import Card, Case, OrgUnit, SupervisionEvent
from routing_service.webhook.service import webhook_service
from services import outbox
from services.db import insert_on_conflict
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import SupervisionLevel
from shared.webhooks import CardReminderData, CardSupervisedData, UnitPayload

log = structlog.get_logger(__name__)

_NOTICES = {
    SupervisionLevel.sign_overdue: "【超时未签收】{unit}:工单 {no} 已超过 2 个工作小时未签收,请立即签收。",
    SupervisionLevel.yellow: "【黄牌催办】{unit}:工单 {no} 将于 {due} 到期,请抓紧办理。",
    SupervisionLevel.red: "【红牌督办】{head}:{unit}承办的工单 {no} 已于 {due} 超期,请单位负责人督促办理。",
    SupervisionLevel.listed: "【挂牌督办】工单 {no} 超期已满 5 个工作日,列入挂牌督办并报区领导。承办单位:{unit}。",
    SupervisionLevel.escalated: "【提级督办】工单 {no} 经多次发回重办仍未解决,提级督办。承办单位:{unit}。原因:{reason}",
}
_WEBHOOK_TYPE: dict[SupervisionLevel, tuple[str, type[CardReminderData | CardSupervisedData]]] = {
    SupervisionLevel.sign_overdue: ("card.reminder", CardReminderData),
    SupervisionLevel.yellow: ("card.reminder", CardReminderData),
    SupervisionLevel.red: ("card.supervised", CardSupervisedData),
    SupervisionLevel.listed: ("card.supervised", CardSupervisedData),
    SupervisionLevel.escalated: ("card.supervised", CardSupervisedData),
}


@dataclass
class TickResult:
    cards: int = 0
    steps: int = 0


@dataclass(frozen=True, slots=True)
class _Step:
    case: Case
    card: Card
    unit: OrgUnit
    level: SupervisionLevel
    notice: str


class SupervisionService:
    async def tick(
        self, session: AsyncSession, now: datetime | None = None, *, batch: int | None = None
    ) -> TickResult:
        """One pass over what is due. The caller commits.

        A constant number of statements per batch whatever its size: the due cards, their
        units, their cases (locked in id order, so concurrent writers cannot deadlock with
        it), one insert of every step, each unit's webhook subscriptions once.
        """
        now = now or utcnow()
        cards = await CardRepository.from_session(session).due_for_supervision(
            now, batch or settings.supervision_batch
        )
        result = TickResult(cards=len(cards))
        if not cards:
            return result
        calendar = await calendar_provider.get(session)
        units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
        cases = await CaseRepository.from_session(session).lock_many({c.case_id for c in cards})
        steps: list[_Step] = []
        for card in cards:
            case, unit = cases[card.case_id], units[card.unit_id]
            level = SupervisionLevel(card.supervision_level)
            for at, step in rules.ladder(calendar, due_at=card.due_at, sign_due_at=card.sign_due_at,
                                         unsigned=card.signed_at is None):  # fmt: skip
                if at > now or rules.RANK[step] <= rules.RANK[level]:
                    continue
                steps.append(_Step(case, card, unit, step, _notice(case, card, unit, step, None)))
                level = step
            card.supervision_level = level.value
            if level == SupervisionLevel.listed:
                card.listed = True
            case_service.reschedule(calendar, card)
        # The batch's card snapshots go to the outbox in one INSERT.
        async with outbox.batched(session):
            result.steps = await self._record_steps(session, steps, now)
            for card in cards:
                facts.card_snapshot(session, card, units[card.unit_id])
        return result

    async def escalate(
        self, session: AsyncSession, case: Case, card: Card, unit: OrgUnit, reason: str
    ) -> None:
        level = SupervisionLevel.escalated
        step = _Step(case, card, unit, level, _notice(case, card, unit, level, reason))
        if await self._record_steps(session, [step], utcnow()):
            card.supervision_level = level.value

    async def _record_steps(self, session: AsyncSession, steps: list[_Step], now: datetime) -> int:
        """Record each step once per card and due date; returns how many were new. A step
        another replica already recorded is skipped (its history and webhooks came with it)."""
        taken = await _insert_steps(session, steps, now)
        events: list[history.NewEvent] = []
        notices: list[tuple[uuid.UUID, str, UnitPayload]] = []
        for step in steps:
            if (step.card.id, step.level.value) not in taken:
                continue
            case, card, unit, level = step.case, step.card, step.unit, step.level
            events.append(history.NewEvent(case, actor="system:supervision", action=f"supervise.{level.value}",
                                           card_id=card.id, reason=step.notice, data={"level": level.value}))  # fmt: skip
            event_type, model = _WEBHOOK_TYPE[level]
            notices.append((unit.id, event_type, card_payload(case, card, unit, model, level=level.value, notice=step.notice)))  # fmt: skip
            log.info(
                "supervision.step", level=level.value, tracking_no=case.tracking_no, unit=unit.code
            )
        # One INSERT each for the batch's history events and webhook deliveries.
        await history.record_many(session, events)
        await webhook_service.notify_units(session, notices)
        count = len(events)
        return count


def _notice(
    case: Case, card: Card, unit: OrgUnit, level: SupervisionLevel, reason: str | None
) -> str:
    return _NOTICES[level].format(
        unit=unit.name,
        head=unit.head_name or f"{unit.name}负责人",
        no=case.tracking_no,
        due=card.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        reason=reason or "",
    )


async def _insert_steps(
    session: AsyncSession, steps: list[_Step], now: datetime
) -> set[tuple[uuid.UUID, str]]:
    """Insert the steps' ``supervision_event`` rows; returns the (card, level) keys that were
    new (the unique key makes a step another replica recorded a no-op)."""
    if not steps:
        return set()
    rows = [
        {"id": uuid.uuid4(), "card_id": s.card.id, "case_id": s.case.id, "unit_id": s.unit.id,
         "level": s.level.value, "due_at": s.card.due_at, "at": now, "notice": s.notice}
        for s in steps
    ]  # fmt: skip
    # Parameters given as a list: one cached statement, sent in pages by SQLAlchemy's
    # insertmanyvalues (a VALUES clause of 1,000 rows was compiled afresh every batch).
    stmt = (
        insert_on_conflict(session, SupervisionEvent)
        .on_conflict_do_nothing()
        .returning(SupervisionEvent.card_id, SupervisionEvent.level)
    )
    return {(row.card_id, row.level) for row in await session.execute(stmt, rows)}


supervision_service = SupervisionService()
