"""A responsible unit's work on its card: sign (签收), first contact, progress, return (退单),
extension request (延期申请), completion (办结). Center decisions are in ``service.py``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts, history
from routing_service.assignment.exceptions import (
    CardDesignated,
    CardNotFound,
    CoInputsPending,
    ExtensionNotAllowed,
    IllegalTransition,
    ReturnWindowClosed,
)
from routing_service.assignment.repository import CardRepository, CaseRepository, UnitRepository
from routing_service.assignment.schemas import CompleteIn, ExtensionRequestIn
from routing_service.assignment.service import case_service
from routing_service.config import settings
from routing_service.deadline.calendar import calendar_provider
from routing_service.models import Card, CardNote, Case, Extension, OrgUnit
from services.auth import Principal
from services.models import utcnow
from services.policy import in_scope
from shared.enums import CardRole, CardStatus, CaseStatus, RequestStatus
from shared.schemas.base import rfc3339


class CardService:
    async def load(
        self, session: AsyncSession, principal: Principal, card_id: uuid.UUID
    ) -> tuple[Card, Case, OrgUnit]:
        """The card with its case (row-locked for the change) and unit, if the caller's."""
        card = await CardRepository.from_session(session).get(card_id)
        if card is None:
            raise CardNotFound()
        unit = await session.get(OrgUnit, card.unit_id)
        assert unit is not None
        case = await CaseRepository.from_session(session).get(card.case_id, for_update=True)
        assert case is not None
        if not in_scope(principal, unit.path) and not await case_service.visible(
            session, principal, case
        ):
            raise CardNotFound()
        await session.refresh(card)
        return card, case, unit

    async def sign(
        self, session: AsyncSession, principal: Principal, card: Card, case: Case, unit: OrgUnit
    ) -> Card:
        if card.status == CardStatus.signed.value and card.signed_at is not None:
            return card  # signing twice is harmless
        if card.status != CardStatus.dispatched.value:
            raise IllegalTransition("签收", card.status)
        calendar = await calendar_provider.get(session)
        now = utcnow()
        card.status = CardStatus.signed.value
        card.signed_at = now
        card.signed_by = principal.actor
        card.contact_due_at = calendar.add_working_days(now, settings.contact_days).due_at
        case_service.reschedule(calendar, card)
        if case.status == CaseStatus.dispatched.value:
            case.status = CaseStatus.in_progress.value
            await facts.tell_submitter(session, case, RequestStatus.in_progress, f"{unit.name}已签收,正在办理",
                                 agency=unit.name, expected_at=card.due_at, provisional=card.due_provisional)  # fmt: skip
            facts.case_snapshot(session, case, await case_service._owner(session, case))
        history.record(session, case, actor=principal.actor, action="card.sign", card_id=card.id,
                       from_status=CardStatus.dispatched.value, to_status=card.status,
                       data={"on_time": now <= card.sign_due_at})  # fmt: skip
        facts.card_snapshot(session, card, unit)
        return card

    async def add_note(self, session: AsyncSession, principal: Principal, card: Card, case: Case, unit: OrgUnit,
                       kind: str, text: str, attachments: Sequence[str]) -> CardNote:  # fmt: skip
        if card.status not in (
            CardStatus.signed.value,
            CardStatus.suspended.value,
            CardStatus.submitted.value,
        ):
            raise IllegalTransition("记录办理情况", card.status)
        now = utcnow()
        note = CardNote(card_id=card.id, kind=kind, text=text, attachments=list(attachments),
                        author=principal.actor, at=now)  # fmt: skip
        session.add(note)
        if kind == "contact" and card.first_contact_at is None:
            card.first_contact_at = now
            facts.card_snapshot(session, card, unit)
        history.record(session, case, actor=principal.actor, action=f"card.{kind}", card_id=card.id,
                       reason=text[:1000])  # fmt: skip
        return note

    async def return_card(self, session: AsyncSession, principal: Principal, card: Card, case: Case,
                          unit: OrgUnit, reason: str) -> Card:  # fmt: skip
        if card.status not in (CardStatus.dispatched.value, CardStatus.signed.value):
            raise IllegalTransition("退单", card.status)
        if card.designated:
            raise CardDesignated()
        now = utcnow()
        if now > card.return_deadline_at:
            raise ReturnWindowClosed()
        before = card.status
        card.status = CardStatus.returned.value
        card.returned_at = now
        card.return_reason = reason
        card.next_check_at = None
        cards = await CaseRepository.from_session(session).cards(case.id)
        returns = sum(1 for c in cards if c.status == CardStatus.returned.value)
        history.record(session, case, actor=principal.actor, action="card.return", card_id=card.id,
                       from_status=before, to_status=card.status, reason=reason, data={"returns": returns})  # fmt: skip
        facts.card_snapshot(session, card, unit)
        if case.project_role == facts.AGENCY_PLAN:
            # One step goes back to the center; the plan's other steps carry on.
            from routing_service.project.agency import agency_service

            await agency_service.step_returned(session, case, card, reason)
            return card
        live = [
            c
            for c in cards
            if c.status not in (CardStatus.returned.value, CardStatus.cancelled.value)
        ]
        if not live or card.role in (CardRole.lead.value, CardRole.single.value):
            # The case goes back to the center for re-dispatch; co-handlers' cards stay.
            for other in live:
                other.status = CardStatus.cancelled.value
                other.next_check_at = None
                other_unit = await session.get(OrgUnit, other.unit_id)
                assert other_unit is not None
                facts.card_snapshot(session, other, other_unit)
            before_case = case.status
            case.status = CaseStatus.awaiting_dispatch.value
            if returns >= settings.max_returns_before_designation:
                case.must_designate = True
            history.record(session, case, actor="system", action="case.redispatch_needed",
                           from_status=before_case, to_status=case.status,
                           data={"must_designate": case.must_designate})  # fmt: skip
            await facts.tell_submitter(
                session, case, RequestStatus.verifying, "承办单位退回,中心重新派单中"
            )
            facts.case_snapshot(session, case, await case_service._owner(session, case))
        return card

    async def request_extension(self, session: AsyncSession, principal: Principal, card: Card, case: Case,
                                unit: OrgUnit, data: ExtensionRequestIn) -> Extension:  # fmt: skip
        if card.status != CardStatus.signed.value:
            raise IllegalTransition("申请延期", card.status)
        now = utcnow()
        earlier = (
            await session.scalars(select(Extension).where(Extension.card_id == card.id))
        ).all()
        original_limit = card.limit_days - sum(e.days for e in earlier if e.status == "approved")
        if (
            now >= card.due_at
            or any(e.status in ("pending", "approved") for e in earlier)
            or data.days > original_limit
        ):
            raise ExtensionNotAllowed(
                details={"due_at": rfc3339(card.due_at), "max_days": original_limit}
            )
        extension = Extension(card_id=card.id, days=data.days, reason=data.reason, requested_by=principal.actor,
                              requested_at=now, status="pending")  # fmt: skip
        session.add(extension)
        await session.flush()
        history.record(session, case, actor=principal.actor, action="extension.request", card_id=card.id,
                       reason=data.reason, data={"days": data.days, "extension_id": str(extension.id)})  # fmt: skip
        return extension

    async def complete(self, session: AsyncSession, principal: Principal, card: Card, case: Case,
                       unit: OrgUnit, data: CompleteIn) -> Card:  # fmt: skip
        if card.status != CardStatus.signed.value:
            raise IllegalTransition("办结", card.status)
        if card.role == CardRole.lead.value:
            cards = await CaseRepository.from_session(session).cards(case.id)
            pending = [c for c in cards if c.role == CardRole.co.value
                       and c.status in (CardStatus.dispatched.value, CardStatus.signed.value, CardStatus.suspended.value)]  # fmt: skip
            if pending:
                units = await UnitRepository.from_session(session).by_ids(
                    [c.unit_id for c in pending]
                )
                raise CoInputsPending(
                    details={"waiting_for": [units[c.unit_id].code for c in pending]}
                )
        now = utcnow()
        card.status = CardStatus.submitted.value
        card.submitted_at = now
        card.result = data.result
        card.evidence = list(data.evidence)
        card.next_check_at = None
        history.record(session, case, actor=principal.actor, action="card.complete", card_id=card.id,
                       from_status=CardStatus.signed.value, to_status=card.status, reason=data.result[:1000],
                       data={"on_time": now <= card.due_at, "evidence": len(data.evidence)})  # fmt: skip
        facts.card_snapshot(session, card, unit)
        return card


card_service = CardService()
