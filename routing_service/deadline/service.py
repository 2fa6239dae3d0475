"""Loading an official year schedule, and redoing every deadline that was provisional for it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts, history
from routing_service.assignment.repository import CardRepository, CaseRepository, UnitRepository
from routing_service.assignment.service import case_service
from routing_service.deadline.calendar import calendar_provider
from routing_service.models import CalendarYear
from services.auth import Principal
from services.models import utcnow
from shared.calendar import YearSchedule
from shared.enums import RequestStatus
from shared.schemas.base import rfc3339


@dataclass
class LoadResult:
    year: int
    recomputed: int
    changed: int
    still_provisional: int


class CalendarService:
    async def load_year(
        self, session: AsyncSession, principal: Principal, schedule: YearSchedule
    ) -> LoadResult:
        row = await session.get(CalendarYear, schedule.year)
        holidays = sorted(d.isoformat() for d in schedule.holidays)
        workdays = sorted(d.isoformat() for d in schedule.workdays)
        if row is None:
            row = CalendarYear(year=schedule.year, holidays=holidays, workdays=workdays, source=schedule.source,
                               loaded_by=principal.actor)  # fmt: skip
            session.add(row)
        else:
            row.holidays, row.workdays, row.source = holidays, workdays, schedule.source
            row.loaded_by, row.loaded_at = principal.actor, utcnow()
        await session.flush()
        calendar_provider.invalidate()
        calendar = await calendar_provider.get(session)
        result = LoadResult(year=schedule.year, recomputed=0, changed=0, still_provisional=0)
        cards = await CardRepository.from_session(session).open_provisional()
        units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
        cases = CaseRepository.from_session(session)
        for card in cards:
            deadline = calendar.add_working_days(
                card.clock_start_at, card.limit_days + card.paused_days
            )
            result.recomputed += 1
            changed = deadline.due_at != card.due_at
            card.due_at = deadline.due_at
            card.due_provisional = deadline.provisional
            if deadline.provisional:
                result.still_provisional += 1
            case = await cases.get(card.case_id, for_update=True)
            assert case is not None
            if changed:
                result.changed += 1
                if not card.extension_approved:
                    card.original_due_at = deadline.due_at
                case_service.reschedule(calendar, card)
                history.record(session, case, actor=principal.actor, action="deadline.recompute", card_id=card.id,
                               reason=f"{schedule.year}年节假日安排已载入",
                               data={"due_at": rfc3339(card.due_at), "provisional": card.due_provisional})  # fmt: skip
            await facts.tell_submitter(session, case, RequestStatus(_public_status(case.status)),
                                 "办结时限已按官方节假日安排确认", expected_at=card.due_at,
                                 provisional=card.due_provisional)  # fmt: skip
            facts.card_snapshot(session, card, units[card.unit_id])
        return result


def _public_status(case_status: str) -> str:
    return {"dispatched": "dispatched", "in_progress": "in_progress"}.get(
        case_status, "in_progress"
    )


calendar_service = CalendarService()
