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
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts, history
from routing_service.assignment.repository import CardRepository, CaseRepository, UnitRepository
from routing_service.assignment.service import card_payload, case_service
from routing_service.config import settings
from routing_service.deadline import rules
from routing_service.deadline.calendar import calendar_provider
from routing_service.models import Card, Case, OrgUnit, SupervisionEvent
from routing_service.webhook.service import webhook_service
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import SupervisionLevel

log = structlog.get_logger(__name__)

_NOTICES = {
    SupervisionLevel.sign_overdue: "【超时未签收】{unit}:工单 {no} 已超过 2 个工作小时未签收,请立即签收。",
    SupervisionLevel.yellow: "【黄牌催办】{unit}:工单 {no} 将于 {due} 到期,请抓紧办理。",
    SupervisionLevel.red: "【红牌督办】{head}:{unit}承办的工单 {no} 已于 {due} 超期,请单位负责人督促办理。",
    SupervisionLevel.listed: "【挂牌督办】工单 {no} 超期已满 5 个工作日,列入挂牌督办并报区领导。承办单位:{unit}。",
    SupervisionLevel.escalated: "【提级督办】工单 {no} 经多次发回重办仍未解决,提级督办。承办单位:{unit}。原因:{reason}",
}
_WEBHOOK_TYPE = {
    SupervisionLevel.sign_overdue: "card.reminder",
    SupervisionLevel.yellow: "card.reminder",
    SupervisionLevel.red: "card.supervised",
    SupervisionLevel.listed: "card.supervised",
    SupervisionLevel.escalated: "card.supervised",
}


@dataclass
class TickResult:
    cards: int = 0
    steps: int = 0


class SupervisionService:
    async def tick(
        self, session: AsyncSession, now: datetime | None = None, *, batch: int | None = None
    ) -> TickResult:
        """One pass over what is due. The caller commits."""
        now = now or utcnow()
        cards = await CardRepository.from_session(session).due_for_supervision(
            now, batch or settings.supervision_batch
        )
        result = TickResult(cards=len(cards))
        if not cards:
            return result
        calendar = await calendar_provider.get(session)
        units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
        cases_repo = CaseRepository.from_session(session)
        for card in cards:
            case = await cases_repo.get(card.case_id, for_update=True)
            assert case is not None
            unit = units[card.unit_id]
            level = SupervisionLevel(card.supervision_level)
            for at, step in rules.ladder(calendar, due_at=card.due_at, sign_due_at=card.sign_due_at,
                                         unsigned=card.signed_at is None):  # fmt: skip
                if at > now or rules.RANK[step] <= rules.RANK[level]:
                    continue
                if await self._record_step(session, case, card, unit, step, now, reason=None):
                    result.steps += 1
                level = step
            card.supervision_level = level.value
            if level == SupervisionLevel.listed:
                card.listed = True
            case_service.reschedule(calendar, card)
            facts.card_snapshot(session, card, unit)
        return result

    async def escalate(
        self, session: AsyncSession, case: Case, card: Card, unit: OrgUnit, reason: str
    ) -> None:
        if await self._record_step(
            session, case, card, unit, SupervisionLevel.escalated, utcnow(), reason=reason
        ):
            card.supervision_level = SupervisionLevel.escalated.value

    async def _record_step(self, session: AsyncSession, case: Case, card: Card, unit: OrgUnit,
                           level: SupervisionLevel, now: datetime, *, reason: str | None) -> bool:  # fmt: skip
        notice = _NOTICES[level].format(
            unit=unit.name,
            head=unit.head_name or f"{unit.name}负责人",
            no=case.tracking_no,
            due=card.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
            reason=reason or "",
        )
        values = {
            "id": uuid.uuid4(),
            "card_id": card.id,
            "case_id": case.id,
            "unit_id": unit.id,
            "level": level.value,
            "due_at": card.due_at,
            "at": now,
            "notice": notice,
        }
        dialect = session.bind.dialect.name if session.bind is not None else ""
        if dialect == "postgresql":
            stmt = (
                pg_insert(SupervisionEvent)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(SupervisionEvent.id)
            )
        elif dialect == "sqlite":
            stmt = (
                sqlite_insert(SupervisionEvent)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(SupervisionEvent.id)
            )
        else:
            stmt = insert(SupervisionEvent).values(**values).returning(SupervisionEvent.id)
        inserted = (await session.execute(stmt)).scalar_one_or_none()
        if inserted is None:
            return False  # another replica already took this step
        history.record(session, case, actor="system:supervision", action=f"supervise.{level.value}",
                       card_id=card.id, reason=notice, data={"level": level.value})  # fmt: skip
        await webhook_service.notify_unit(session, unit.id, _WEBHOOK_TYPE[level],
                                          {**card_payload(case, card, unit), "level": level.value, "notice": notice})  # fmt: skip
        log.info(
            "supervision.step", level=level.value, tracking_no=case.tracking_no, unit=unit.code
        )
        return True


supervision_service = SupervisionService()
