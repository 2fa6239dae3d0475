"""The case lifecycle at the center: case creation from intake's events, verification (核查),
dispatch (派单), review (审核), extensions, suspension, redo (发回重办), transfer to the
discipline commission (移交纪委监委), closing. Cards' own actions are in ``cards.py``.

Every transition appends to the case's hash-chained history and emits what intake (status) and
scoring (facts) need, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts, history
from routing_service.assignment.exceptions import (
    CaseNotFound,
    DesignationRequired,
    IllegalTransition,
    InvalidDispatch,
    MergeTargetInvalid,
    RedoNotAllowed,
    SelfApproval,
    UnitNotFound,
)
from routing_service.assignment.repository import CaseRepository, UnitRepository
from routing_service.assignment.schemas import DispatchIn, TransferIn, VerifyIn
from routing_service.config import settings
from routing_service.deadline import rules
from routing_service.deadline.calendar import calendar_provider
from routing_service.models import (
    Card,
    Case,
    DisciplineTransfer,
    Extension,
    Milestone,
    OrgUnit,
    Project,
)
from routing_service.webhook.service import webhook_service
from services.auth import Principal
from services.crypto import PersonalText
from services.db import add_locked, locked_row
from services.errors import ServiceUnavailable
from services.models import utcnow, with_defaults
from services.outbox import add_event
from services.policy import in_scope
from services.search import field_grams
from shared.calendar import SHANGHAI
from shared.enums import (
    CardRole,
    CardStatus,
    CaseStatus,
    Classification,
    RequestStatus,
    SupervisionLevel,
    Topic,
    Urgency,
)
from shared.events import (
    CasePlaced,
    RatingRecorded,
    RequestPersonalDataErased,
    RequestSubmitted,
    RequestSupplemented,
    RequestWithdrawn,
    erased_submitter,
)
from shared.schemas.base import rfc3339
from shared.webhooks import (
    CardCancelledData,
    CardData,
    CardDispatchedData,
    CardExtensionDecidedData,
    CardRedoData,
    CardResumedData,
    CardSentBackData,
    CardSubmitter,
    CardSuspendedData,
    CaseSupplementedData,
)

SYSTEM = "system"
OPEN_CARD_STATUSES = (
    CardStatus.dispatched,
    CardStatus.signed,
    CardStatus.suspended,
    CardStatus.submitted,
)
FINISHED_CASE_STATUSES = (
    CaseStatus.rejected,
    CaseStatus.merged,
    CaseStatus.answered,
    CaseStatus.duplicate,
    CaseStatus.closed,
    CaseStatus.withdrawn,
    CaseStatus.transferred,
)


# What staff search finds a case by, in relevance tiers (best first); the case list searches the
# same columns in the same tiers. Intake withholds a protected submitter's enterprise name.
CASE_SEARCH_FIELDS = (
    ("title",),
    ("enterprise_name", "tracking_no"),
    ("address",),
    ("description",),
)


def searchable_grams(case: Case) -> list[str]:
    if case.confidential:
        # A confidential report's text is sealed; its grams would spell it out again.
        return field_grams(*([case.tracking_no if name == "tracking_no" else None
                              for name in tier] for tier in CASE_SEARCH_FIELDS))  # fmt: skip
    return field_grams(*([getattr(case, name) for name in tier] for tier in CASE_SEARCH_FIELDS))


CardT = TypeVar("CardT", bound=CardData)


def card_payload(case: Case, card: Card, unit: OrgUnit, model: type[CardT], **extra: Any) -> CardT:
    """What a department system receives about a card, as the event's published model
    (``model``, with that event's ``extra`` fields); identity already masked when
    confidential. Times are UTC (the model converts deadlines computed in Asia/Shanghai)."""
    submitter = {k: v for k, v in case.submitter.items() if k in CardSubmitter.model_fields}
    return model(
        card_id=card.id,
        case_id=case.id,
        tracking_no=case.tracking_no,
        unit_code=unit.code,
        role=CardRole(card.role),
        status=CardStatus(card.status),
        title=case.title,
        description=case.description,
        topic=Topic(case.topic),
        urgency=Urgency(case.urgency),
        classification=Classification(case.classification) if case.classification else None,
        address=case.address,
        submitter=CardSubmitter.model_validate(submitter),
        instructions=card.instructions,
        dispatched_at=card.dispatched_at,
        sign_due_at=card.sign_due_at,
        due_at=card.due_at,
        due_provisional=card.due_provisional,
        designated=card.designated,
        **extra,
    )


class CaseService:
    # ---------------------------------------------------------------- from intake's events

    async def create_from_request(
        self, session: AsyncSession, event: RequestSubmitted
    ) -> Case | None:
        if await locked_row(session, Case, event.request_id, by=Case.request_id) is not None:
            return None  # already created (the inbox normally catches this first)
        units = UnitRepository.from_session(session)
        root = await units.root()
        if root is None:
            # No org tree loaded yet: retry later rather than drop the request.
            raise ServiceUnavailable(
                "组织架构未初始化", "The org tree is not loaded yet", code="org_not_loaded"
            )
        calendar = await calendar_provider.get(session)
        verify = rules.verify_due(calendar, event.received_at)
        status = CaseStatus.duplicate if event.duplicate_of else CaseStatus.pending_verification
        # A confidential report's own words are stored sealed (they may name the reporter).
        free_text: Callable[[str], str] = PersonalText if event.confidential else str
        case = Case(
            id=uuid.uuid4(),
            request_id=event.request_id,
            tracking_no=event.tracking_no,
            channel=event.channel.value,
            type=event.type.value,
            topic=event.topic.value,
            topic_suggested=event.topic_suggested,
            urgency=event.urgency.value,
            title=free_text(event.title),
            description=free_text(event.description),
            address=free_text(event.location.address) if event.location.address else None,
            area_code=event.location.area_code,
            submitter=event.submitter.model_dump(mode="json"),
            submitter_kind=event.submitter.kind.value,
            enterprise_uscc=event.submitter.uscc,
            enterprise_name=event.submitter.enterprise_name,
            anonymous=event.anonymous,
            confidential=event.confidential,
            attachments=list(event.attachments),
            cppcc_member_id=event.cppcc_member_id,
            cppcc_visit_id=event.cppcc_visit_id,
            status=status.value,
            owner_unit_id=root.id,
            **await self._project_link(session, event),
            received_at=event.received_at,
            verify_due_at=verify.due_at,
            duplicate_of_tracking_no=event.duplicate_of,
        )
        case.search_grams = searchable_grams(case)
        # History and the snapshot read the defaulted fields; the INSERT waits for the commit.
        add_locked(session, with_defaults(case), event.request_id, by=Case.request_id)
        history.record(
            session,
            case,
            actor=SYSTEM,
            action="create",
            to_status=case.status,
            data={"channel": case.channel, "duplicate_of": event.duplicate_of},
        )
        if status == CaseStatus.pending_verification:
            await facts.tell_submitter(session, case, RequestStatus.verifying, "中心核查中")
        facts.case_snapshot(session, case, root)
        if status == CaseStatus.pending_verification and case.area_code:
            # The radar places it as it arrives, once the group is written (a duplicate is its
            # original's, not news; a request without an area has no street to cluster in).
            add_event(session, CasePlaced(case_id=case.id))
        return case

    @staticmethod
    async def _project_link(session: AsyncSession, event: RequestSubmitted) -> dict[str, Any]:
        """A blocker raised from a project links its case to the project (when it exists)."""
        if event.project_id is None or await session.get(Project, event.project_id) is None:
            return {}
        return {"project_id": event.project_id, "project_role": facts.PROJECT_BLOCKER}

    async def open_center_case(
        self, session: AsyncSession, actor: str, origin: dict[str, str], **fields: Any
    ) -> Case:
        """A case the center opens itself, with no request behind it (a project's agency case,
        a radar cluster's proactive case): verified as it is opened, written at once (its cards
        point at it). ``origin`` goes into the creation event (what it was opened for)."""
        now = utcnow()
        case = Case(id=uuid.uuid4(), request_id=uuid.uuid4(), received_at=now, verify_due_at=now,
                    verified_at=now, verified_by=actor, **fields)  # fmt: skip
        case.search_grams = searchable_grams(case)
        session.add(with_defaults(case))
        history.record(session, case, actor=actor, action="create", to_status=case.status,
                       data={"channel": case.channel, **origin})  # fmt: skip
        await session.flush()
        return case

    async def withdraw(self, session: AsyncSession, event: RequestWithdrawn) -> None:
        case = await CaseRepository.from_session(session).by_request(
            event.request_id, for_update=True
        )
        if case is None or CaseStatus(case.status) in FINISHED_CASE_STATUSES:
            return
        before = case.status
        case.status = CaseStatus.withdrawn.value
        case.closed_at = event.withdrawn_at
        history.record(session, case, actor="submitter", action="withdraw", from_status=before,
                       to_status=case.status, reason=event.reason)  # fmt: skip
        await self._cancel_open_cards(session, case, "提交人撤回")
        facts.case_snapshot(session, case, await self._owner(session, case))

    async def erase_submitter(
        self, session: AsyncSession, event: RequestPersonalDataErased
    ) -> None:
        """Intake erased the request's personal data (PIPL): the case keeps the kind of
        submitter, the masked flag and an enterprise's registry identity, not the name and
        phone; its new snapshot takes that to scoring (over any older one still on the way).
        Applied again: nothing left to do."""
        case = await CaseRepository.from_session(session).by_request(
            event.request_id, for_update=True
        )
        if case is None:
            return
        erased = erased_submitter(case.submitter)
        if erased == case.submitter:
            return
        case.submitter = erased
        actor = "submitter" if event.reason == "submitter_request" else "system"
        history.record(session, case, actor=actor, action="erase_personal_data",
                       reason=event.reason, at=event.erased_at)  # fmt: skip
        facts.case_snapshot(session, case, await self._owner(session, case))

    async def supplement(self, session: AsyncSession, event: RequestSupplemented) -> None:
        case = await CaseRepository.from_session(session).by_request(
            event.request_id, for_update=True
        )
        if case is None:
            return
        case.attachments = [*case.attachments, *event.attachments]
        # A confidential report's supplement is sealed at rest like the report's own text.
        text = event.text[:1000]
        history.record(session, case, actor="submitter", action="supplement",
                       reason=PersonalText(text) if case.confidential else text,
                       data={"attachments": event.attachments})  # fmt: skip
        units = await UnitRepository.from_session(session).by_ids(
            [
                c.unit_id
                for c in await CaseRepository.from_session(session).cards(case.id)
                if c.status in OPEN_CARD_STATUSES
            ]  # fmt: skip
        )
        for unit in units.values():
            await webhook_service.notify_unit(
                session, unit.id, "case.supplemented",
                CaseSupplementedData(case_id=case.id, tracking_no=case.tracking_no, text=event.text,
                                     attachments=list(event.attachments)),
            )  # fmt: skip

    # ---------------------------------------------------------------- center actions

    async def load(
        self,
        session: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        *,
        for_update: bool = False,
    ) -> Case:
        found = await CaseRepository.from_session(session).get_with_owner(
            case_id, for_update=for_update
        )
        if found is None or not await self.visible(session, principal, found[0]):
            raise CaseNotFound()
        return found[0]

    async def visible(self, session: AsyncSession, principal: Principal, case: Case) -> bool:
        owner = await self._owner(session, case)
        if in_scope(principal, owner.path):
            return True
        cards = await CaseRepository.from_session(session).cards(case.id)
        units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
        return any(in_scope(principal, unit.path) for unit in units.values())

    async def verify(
        self, session: AsyncSession, principal: Principal, case: Case, data: VerifyIn
    ) -> Case:
        if case.status != CaseStatus.pending_verification.value:
            raise IllegalTransition("核查", case.status)
        cited = None
        if data.article_id is not None:
            # Checked before anything changes: a withdrawn or expired article is a 422.
            from routing_service.knowledge.service import knowledge_service

            cited = await knowledge_service.citable(session, data.article_id)
        now = utcnow()
        before = case.status
        case.verified_at = now
        case.verified_by = principal.actor
        if data.topic is not None:
            case.topic = data.topic.value
        owner = await self._owner(session, case)
        if data.decision == "accept":
            assert data.classification is not None
            case.classification = data.classification.value
            case.status = CaseStatus.awaiting_dispatch.value
            case.decision_note = data.reason
            note = f"已受理,分类:{data.classification.label_zh}"
            await facts.tell_submitter(session, case, RequestStatus.verifying, note)
        elif data.decision == "reject":
            case.status = CaseStatus.rejected.value
            case.decision_note = data.reason
            case.closed_at = now
            await facts.tell_submitter(session, case, RequestStatus.rejected, data.reason)
        elif data.decision == "answer":
            case.status = CaseStatus.answered.value
            case.decision_note = cited.note(data.answer) if cited else data.answer
            case.completed_at = now
            await facts.tell_submitter(session, case, RequestStatus.answered, case.decision_note)
        else:
            target = await CaseRepository.from_session(session).by_tracking_no(
                data.merge_into or ""
            )
            if (
                target is None
                or target.id == case.id
                or CaseStatus(target.status) in FINISHED_CASE_STATUSES
            ):
                raise MergeTargetInvalid()
            case.status = CaseStatus.merged.value
            case.merged_into_id = target.id
            case.decision_note = data.reason
            case.closed_at = now
            await facts.tell_submitter(
                session, case, RequestStatus.merged, f"已并入 {target.tracking_no} 一并办理"
            )
        history.record(session, case, actor=principal.actor, action=f"verify.{data.decision}",
                       from_status=before, to_status=case.status, reason=data.reason or data.answer,
                       data={"classification": case.classification, "merge_into": data.merge_into,
                             **(cited.history_data() if cited else {})})  # fmt: skip
        facts.case_snapshot(session, case, owner)
        return case

    async def dispatch(
        self, session: AsyncSession, principal: Principal, case: Case, data: DispatchIn
    ) -> tuple[list[Card], list[Milestone]]:
        """Create the cards (and milestones) of a dispatch; returns both, in position order."""
        if case.status != CaseStatus.awaiting_dispatch.value or case.classification is None:
            raise IllegalTransition("派单", case.status)
        classification = Classification(case.classification)
        if classification == Classification.violation:
            raise IllegalTransition("派单(违规问题须移交纪委监委)", case.status)
        if case.must_designate and not data.designate:
            raise DesignationRequired()
        if classification != Classification.multi and len(data.units) > 1:
            raise InvalidDispatch(
                "多个承办单位须按多部门件(multi)分类",
                "Several units need the multi-department classification",
            )
        units_repo = UnitRepository.from_session(session)
        # The units and whom to notify for each, in one read.
        by_code = await webhook_service.units_with_subscriptions(
            session, [item.unit_code for item in data.units]
        )
        targets: list[tuple[OrgUnit, CardRole]] = []
        for item in data.units:
            unit = units_repo.keep(by_code.get(item.unit_code))
            if unit is None or unit.kind in ("discipline",):
                raise UnitNotFound(details={"unit_code": item.unit_code})
            targets.append((unit, item.role))
        calendar = await calendar_provider.get(session)
        now = utcnow()
        days = data.limit_days or rules.limit_days(classification)
        deadline = rules.completion_due(calendar, now, days)
        urgent = classification == Classification.urgent or case.urgency != Urgency.normal.value
        cards = [
            self.new_card(
                session,
                calendar,
                case,
                unit,
                role,
                days=days,
                actor=principal.actor,
                instructions=data.instructions,
                designated=data.designate,
                urgent=urgent,
                now=now,
            )  # fmt: skip
            for unit, role in targets
        ]
        # In UTC, as read back: the dispatch answer shows these objects, not a re-read.
        milestones: list[Milestone] = []
        for position, milestone in enumerate(data.milestones):
            due = rules.completion_due(calendar, now, milestone.days)
            owner_card = next(
                (
                    c
                    for c, (u, _r) in zip(cards, targets, strict=True)
                    if u.code == milestone.unit_code
                ),
                None,
            )
            milestones.append(Milestone(case_id=case.id, card_id=owner_card.id if owner_card else None, name=milestone.name,
                                        due_at=due.due_at.astimezone(UTC), due_provisional=due.provisional, position=position))  # fmt: skip
        session.add_all(milestones)
        before = case.status
        case.status = CaseStatus.dispatched.value
        names = "、".join(unit.name for unit, _ in targets)
        history.record(session, case, actor=principal.actor, action="dispatch", from_status=before,
                       to_status=case.status, reason=data.instructions,
                       data={"units": [u.code for u, _ in targets], "limit_days": days,
                             "designate": data.designate, "due_at": rfc3339(deadline.due_at)})  # fmt: skip
        for card, (unit, _role) in zip(cards, targets, strict=True):
            await self.announce_card(session, case, card, unit)
        await facts.tell_submitter(session, case, RequestStatus.dispatched, f"已交由{names}办理",
                             agency=names, expected_at=deadline.due_at, provisional=deadline.provisional)  # fmt: skip
        facts.case_snapshot(session, case, await self._owner(session, case))
        return cards, milestones

    async def transfer(
        self, session: AsyncSession, principal: Principal, case: Case, data: TransferIn
    ) -> DisciplineTransfer:
        if CaseStatus(case.status) not in (CaseStatus.awaiting_dispatch, CaseStatus.pending_verification,
                                           CaseStatus.dispatched, CaseStatus.in_progress):  # fmt: skip
            raise IllegalTransition("移交纪委监委", case.status)
        if case.project_role == facts.AGENCY_PLAN:
            # A project's plan is not a complaint: a violation met on the way is reported (a
            # blocker or a report) and transferred as its own case.
            raise IllegalTransition("移交纪委监委(项目代办工单)", case.status)
        units = UnitRepository.from_session(session)
        discipline = await units.discipline()
        if discipline is None:
            raise UnitNotFound("未配置纪委监委单位", "No discipline commission unit is configured")
        subject = await units.by_code(data.subject_unit_code) if data.subject_unit_code else None
        if data.subject_unit_code and subject is None:
            raise UnitNotFound(details={"unit_code": data.subject_unit_code})
        now = utcnow()
        transfer = DisciplineTransfer(id=uuid.uuid4(), case_id=case.id, to_unit_id=discipline.id,
                                      subject_unit_id=subject.id if subject else None, reason=data.reason,
                                      evidence=list(data.evidence), transferred_by=principal.actor,
                                      transferred_at=now)  # fmt: skip
        session.add(transfer)
        before = case.status
        case.classification = Classification.violation.value
        case.status = CaseStatus.transferred.value
        case.verified_at = case.verified_at or now
        history.record(session, case, actor=principal.actor, action="transfer", from_status=before,
                       to_status=case.status, reason=data.reason,
                       data={"to": discipline.code, "subject": data.subject_unit_code})  # fmt: skip
        await facts.tell_submitter(
            session, case, RequestStatus.in_progress, "已移交区纪委监委依规处理"
        )
        facts.case_snapshot(session, case, await self._owner(session, case))
        return transfer

    async def decide_extension(self, session: AsyncSession, principal: Principal, case: Case, card: Card,
                               extension: Extension, approve: bool, note: str | None) -> Card:  # fmt: skip
        if extension.status != "pending":
            raise IllegalTransition("审批延期", extension.status)
        if extension.requested_by == principal.actor:
            raise SelfApproval()
        now = utcnow()
        extension.decided_by = principal.actor
        extension.decided_at = now
        extension.decision_note = note
        unit = (await UnitRepository.from_session(session).by_ids([card.unit_id]))[card.unit_id]
        if approve:
            calendar = await calendar_provider.get(session)
            card.limit_days += extension.days
            deadline = calendar.add_working_days(card.due_at, extension.days)
            card.due_at = deadline.due_at
            card.due_provisional = card.due_provisional or deadline.provisional
            card.extension_approved = True
            extension.status = "approved"
            extension.new_due_at = card.due_at
            # The ladder starts over for the new due date.
            card.supervision_level = (
                SupervisionLevel.none.value
                if card.supervision_level != SupervisionLevel.sign_overdue.value
                else card.supervision_level
            )
            self.reschedule(calendar, card)
            await facts.tell_submitter(session, case, RequestStatus.extended,
                                 f"经中心批准延期{extension.days}个工作日,新的办结时限为"
                                 f"{card.due_at.astimezone(SHANGHAI):%Y-%m-%d}",
                                 expected_at=card.due_at, provisional=card.due_provisional)  # fmt: skip
        else:
            extension.status = "rejected"
        history.record(session, case, actor=principal.actor, action="extension.decide", card_id=card.id,
                       reason=note, data={"approved": approve, "days": extension.days,
                                          "due_at": rfc3339(card.due_at)})  # fmt: skip
        await webhook_service.notify_unit(session, unit.id, "card.extension_decided",
                                          card_payload(case, card, unit, CardExtensionDecidedData,
                                                       approved=approve, note=note))  # fmt: skip
        facts.card_snapshot(session, card, unit)
        return card

    async def review(self, session: AsyncSession, principal: Principal, case: Case, card: Card,
                     accept: bool, note: str | None) -> Card:  # fmt: skip
        if card.status != CardStatus.submitted.value:
            raise IllegalTransition("审核", card.status)
        now = utcnow()
        unit = (await UnitRepository.from_session(session).by_ids([card.unit_id]))[card.unit_id]
        calendar = await calendar_provider.get(session)
        if accept:
            card.status = CardStatus.approved.value
            card.approved_at = now
            card.review_note = note
            card.next_check_at = None
            taken = calendar.working_days_between(card.dispatched_at, card.submitted_at or now)
            history.record(session, case, actor=principal.actor, action="review.accept", card_id=card.id,
                           from_status=CardStatus.submitted.value, to_status=card.status, reason=note)  # fmt: skip
            facts.card_snapshot(session, card, unit, working_days_taken=taken)
            await self._complete_case_if_done(session, case, card)
        else:
            card.status = CardStatus.signed.value
            card.send_back_count += 1
            card.review_note = note
            self.reschedule(calendar, card)
            history.record(session, case, actor=principal.actor, action="review.send_back", card_id=card.id,
                           from_status=CardStatus.submitted.value, to_status=card.status, reason=note)  # fmt: skip
            await webhook_service.notify_unit(session, unit.id, "card.sent_back",
                                              card_payload(case, card, unit, CardSentBackData, note=note))  # fmt: skip
            facts.card_snapshot(session, card, unit)
        return card

    async def suspend(
        self, session: AsyncSession, principal: Principal, case: Case, card: Card, reason: str
    ) -> Card:
        if card.status not in (CardStatus.dispatched.value, CardStatus.signed.value):
            raise IllegalTransition("挂起", card.status)
        card.status_before_suspend = card.status
        card.status = CardStatus.suspended.value
        card.suspended_at = utcnow()
        card.suspend_reason = reason
        card.next_check_at = None  # the clock is paused: nothing can fall due
        unit = (await UnitRepository.from_session(session).by_ids([card.unit_id]))[card.unit_id]
        history.record(session, case, actor=principal.actor, action="suspend", card_id=card.id,
                       from_status=card.status_before_suspend, to_status=card.status, reason=reason)  # fmt: skip
        await webhook_service.notify_unit(
            session, unit.id, "card.suspended",
            card_payload(case, card, unit, CardSuspendedData, reason=reason),
        )  # fmt: skip
        await facts.tell_submitter(session, case, RequestStatus.suspended, reason)
        facts.card_snapshot(session, card, unit)
        return card

    async def resume(
        self, session: AsyncSession, principal: Principal, case: Case, card: Card
    ) -> Card:
        if card.status != CardStatus.suspended.value or card.suspended_at is None:
            raise IllegalTransition("恢复", card.status)
        calendar = await calendar_provider.get(session)
        now = utcnow()
        paused = calendar.working_days_between(card.suspended_at, now)
        card.paused_days += paused
        deadline = calendar.add_working_days(
            card.clock_start_at, card.limit_days + card.paused_days
        )
        card.due_at = deadline.due_at
        card.due_provisional = deadline.provisional
        if card.signed_at is None and paused:
            card.sign_due_at = calendar.add_working_days(card.sign_due_at, paused).due_at
        card.status = card.status_before_suspend or CardStatus.signed.value
        card.suspended_at = None
        self.reschedule(calendar, card)
        unit = (await UnitRepository.from_session(session).by_ids([card.unit_id]))[card.unit_id]
        history.record(session, case, actor=principal.actor, action="resume", card_id=card.id,
                       from_status=CardStatus.suspended.value, to_status=card.status,
                       data={"paused_working_days": paused, "due_at": rfc3339(card.due_at)})  # fmt: skip
        await webhook_service.notify_unit(
            session, unit.id, "card.resumed", card_payload(case, card, unit, CardResumedData)
        )
        await facts.tell_submitter(session, case, RequestStatus.in_progress, "恢复办理", expected_at=card.due_at,
                             provisional=card.due_provisional)  # fmt: skip
        facts.card_snapshot(session, card, unit)
        return card

    async def redo(
        self, session: AsyncSession, principal: Principal, case: Case, reason: str
    ) -> list[Card]:
        """发回重办: back to the unit(s) with 3 working days, the head involved; the second redo
        escalates (提级督办)."""
        if case.status not in (CaseStatus.completed.value, CaseStatus.closed.value):
            raise RedoNotAllowed()
        cards = [
            c
            for c in await CaseRepository.from_session(session).cards(case.id)
            if c.status == CardStatus.approved.value
        ]
        if not cards:
            raise RedoNotAllowed()
        calendar = await calendar_provider.get(session)
        now = utcnow()
        case.redo_count += 1
        before = case.status
        case.status = CaseStatus.in_progress.value
        case.completed_at = None
        case.closed_at = None
        units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
        deadline = rules.completion_due(calendar, now, settings.redo_days)
        escalate = case.redo_count >= settings.redo_escalation_count
        for card in cards:
            card.status = CardStatus.signed.value
            card.redo_count += 1
            card.clock_start_at = now
            card.limit_days = settings.redo_days
            card.paused_days = 0
            card.due_at = deadline.due_at
            card.due_provisional = deadline.provisional
            card.approved_at = None
            card.submitted_at = None
            card.supervision_level = SupervisionLevel.none.value
            self.reschedule(calendar, card)
            unit = units[card.unit_id]
            await webhook_service.notify_unit(session, unit.id, "card.redo",
                                              card_payload(case, card, unit, CardRedoData, reason=reason,
                                                           redo_count=case.redo_count, head_involved=True))  # fmt: skip
            if escalate:
                from routing_service.deadline.supervision import supervision_service

                await supervision_service.escalate(session, case, card, unit, reason)
            facts.card_snapshot(session, card, unit)
        if escalate:
            case.escalated = True
        history.record(session, case, actor=principal.actor, action="redo", from_status=before,
                       to_status=case.status, reason=reason,
                       data={"redo_count": case.redo_count, "escalated": escalate,
                             "due_at": rfc3339(deadline.due_at)})  # fmt: skip
        await facts.tell_submitter(session, case, RequestStatus.in_progress, "发回重办:" + reason,
                             expected_at=deadline.due_at, provisional=deadline.provisional)  # fmt: skip
        facts.case_snapshot(session, case, await self._owner(session, case))
        return cards

    async def close(
        self, session: AsyncSession, principal: Principal, case: Case, note: str | None
    ) -> Case:
        """归档 after the revisit (rated, or the revisit window is over)."""
        if case.status == CaseStatus.closed.value:
            return case
        if case.status not in (CaseStatus.completed.value, CaseStatus.answered.value):
            raise IllegalTransition("归档", case.status)
        before = case.status
        case.status = CaseStatus.closed.value
        case.closed_at = utcnow()
        history.record(session, case, actor=principal.actor, action="close", from_status=before,
                       to_status=case.status, reason=note)  # fmt: skip
        await facts.tell_submitter(session, case, RequestStatus.closed, note or "已归档")
        facts.case_snapshot(session, case, await self._owner(session, case))
        return case

    async def archive_after_rating(self, session: AsyncSession, event: RatingRecorded) -> None:
        """The revisit is done: archive (归档) a completed case unless a redo reopened it."""
        await self._archive(session, event.case_id, event.round, f"回访测评:{event.satisfaction}")

    async def archive_unrated(self, session: AsyncSession, case_id: uuid.UUID, round_: int) -> None:
        await self._archive(session, case_id, round_, "回访期满,自动归档")

    async def _archive(
        self, session: AsyncSession, case_id: uuid.UUID, round_: int, note: str
    ) -> None:
        case = await CaseRepository.from_session(session).get(case_id, for_update=True)
        if case is None or case.redo_count != round_:
            return  # a redo reopened the case since: that round is archived on its own
        if case.status in (CaseStatus.completed.value, CaseStatus.answered.value):
            system = Principal(kind="service", subject="scoring", role="service")
            await self.close(session, system, case, note)

    # ---------------------------------------------------------------- helpers

    def new_card(
        self, session: AsyncSession, calendar: Any, case: Case, unit: OrgUnit, role: CardRole,
        *, days: int, actor: str, instructions: str | None, designated: bool = False,
        urgent: bool = False, now: datetime, **step: Any,
    ) -> Card:  # fmt: skip
        """A card for ``unit`` with its deadlines (sign, completion in working days, return
        window) and the ladder's first check; a dispatch and a project step alike. ``step``:
        a plan step's project fields (project_id, procedure_code)."""
        deadline = rules.completion_due(calendar, now, days)
        sign_due = rules.sign_due(calendar, now, urgent=urgent)
        card = Card(
            id=uuid.uuid4(),
            case_id=case.id,
            unit_id=unit.id,
            role=role.value,
            status=CardStatus.dispatched.value,
            instructions=instructions,
            dispatched_by=actor,
            dispatched_at=now,
            sign_due_at=sign_due,
            clock_start_at=now,
            limit_days=days,
            original_due_at=deadline.due_at,
            due_at=deadline.due_at,
            due_provisional=deadline.provisional,
            return_deadline_at=calendar.add_working_days(now, settings.return_window_days).due_at,
            designated=designated,
            updated_at=now,
            **step,
        )
        # The snapshot reads the defaulted fields; the INSERT waits for the commit.
        with_defaults(card)
        card.next_check_at = rules.next_check(
            calendar, level=SupervisionLevel.none, due_at=card.due_at, sign_due_at=sign_due,
            unsigned=True,
        )  # fmt: skip
        session.add(card)
        return card

    async def announce_card(
        self, session: AsyncSession, case: Case, card: Card, unit: OrgUnit
    ) -> None:
        """Tell the unit's systems (``card.dispatched``) and scoring about a new card."""
        await webhook_service.notify_unit(
            session, unit.id, "card.dispatched", card_payload(case, card, unit, CardDispatchedData)
        )
        facts.card_snapshot(session, card, unit)

    def reschedule(self, calendar: Any, card: Card) -> None:
        """Recompute when the supervision ladder next has work for this card."""
        if card.status in (CardStatus.dispatched.value, CardStatus.signed.value):
            card.next_check_at = rules.next_check(
                calendar,
                level=SupervisionLevel(card.supervision_level),
                due_at=card.due_at,
                sign_due_at=card.sign_due_at,
                unsigned=card.signed_at is None,
            )
        else:
            card.next_check_at = None

    async def _complete_case_if_done(self, session: AsyncSession, case: Case, card: Card) -> None:
        if case.project_role == facts.AGENCY_PLAN:
            # A plan's steps are done one by one; the project decides what comes next.
            from routing_service.project.agency import agency_service

            await agency_service.step_done(session, case, card)
            return
        cards = await CaseRepository.from_session(session).cards(case.id)
        live = [
            c
            for c in cards
            if c.status not in (CardStatus.returned.value, CardStatus.cancelled.value)
        ]
        lead = next(
            (c for c in live if c.role in (CardRole.lead.value, CardRole.single.value)), None
        )
        if lead is None or lead.status != CardStatus.approved.value:
            return
        if any(
            c.status not in (CardStatus.approved.value,)
            for c in live
            if c.role == CardRole.co.value
        ):
            # Co-handlers whose input the lead already used are closed with the case.
            for co in live:
                if co.role == CardRole.co.value and co.status != CardStatus.approved.value:
                    co.status = CardStatus.approved.value
                    co.approved_at = utcnow()
                    co.next_check_at = None
        before = case.status
        case.status = CaseStatus.completed.value
        case.completed_at = utcnow()
        history.record(session, case, actor=SYSTEM, action="complete", from_status=before, to_status=case.status,
                       data={"result": lead.result})  # fmt: skip
        await facts.tell_submitter(session, case, RequestStatus.completed, lead.result)
        facts.case_snapshot(session, case, await self._owner(session, case))
        if case.hot_issue_id is not None:
            # A proactive case: each member request is completed with its result.
            from routing_service.radar.service import radar_service

            await radar_service.proactive_completed(session, case, lead.result)

    async def _cancel_open_cards(self, session: AsyncSession, case: Case, reason: str) -> None:
        cards = await CaseRepository.from_session(session).cards(case.id)
        units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
        for card in cards:
            if card.status in OPEN_CARD_STATUSES:
                await self.cancel_card(session, case, card, units[card.unit_id], reason)

    async def cancel_card(
        self, session: AsyncSession, case: Case, card: Card, unit: OrgUnit, reason: str
    ) -> None:
        card.status = CardStatus.cancelled.value
        card.next_check_at = None
        await webhook_service.notify_unit(session, unit.id, "card.cancelled",
                                          card_payload(case, card, unit, CardCancelledData, reason=reason))  # fmt: skip
        facts.card_snapshot(session, card, unit)

    async def _owner(self, session: AsyncSession, case: Case) -> OrgUnit:
        owner = await UnitRepository.from_session(session).get(case.owner_unit_id)
        assert owner is not None
        return owner

    async def complete_milestone(self, session: AsyncSession, principal: Principal, case: Case,
                                 milestone: Milestone, note: str | None) -> Milestone:  # fmt: skip
        if milestone.done_at is not None:
            return milestone
        milestone.done_at = utcnow()
        milestone.note = note
        history.record(session, case, actor=principal.actor, action="milestone.done", reason=note,
                       data={"milestone": milestone.name})  # fmt: skip
        return milestone


case_service = CaseService()
