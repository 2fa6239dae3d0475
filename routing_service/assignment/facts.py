"""What routing tells the other services: the submitter-facing status (to intake, and to the
backend of the channel the request came through, 原渠道反馈) and the case and card facts (to
scoring), all through the outbox in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import Card, Case, OrgUnit
from routing_service.webhook.service import webhook_service
from services.models import utcnow
from services.outbox import add_event
from shared.enums import (
    CardRole,
    CardStatus,
    CaseStatus,
    Channel,
    Classification,
    RequestStatus,
    RequestType,
    SupervisionLevel,
    Topic,
    UnitKind,
    Urgency,
)
from shared.events import CardSnapshot, CaseSnapshot, CaseStatusChanged, SubmitterInfo
from shared.webhooks import REQUEST_STATUS_CHANGED, RequestStatusChangedData

# ``case.project_role`` of a project's agency case (its steps are the cards); "blocker" marks a
# request raised from a project, which is a case like any other.
AGENCY_PLAN = "plan"
PROJECT_BLOCKER = "blocker"


def stands_for_request(case: Case) -> bool:
    """Whether a case is a request's (a submitter to tell, a case to count): a project's
    agency case and a proactive case opened for a radar cluster are not."""
    return case.project_role != AGENCY_PLAN and case.hot_issue_id is None


async def tell_submitter(
    session: AsyncSession,
    case: Case,
    status: RequestStatus,
    note: str | None,
    *,
    agency: str | None = None,
    expected_at: datetime | None = None,
    provisional: bool = False,
) -> None:
    """The one place the submitter-facing status changes: intake's event, and a
    ``request.status_changed`` webhook to each active subscription of the request's channel.
    The webhook names the request by tracking number only, never who submitted it. A project's
    agency case has no request: the enterprise follows the project itself."""
    if not stands_for_request(case):
        return
    changed_at = utcnow()
    add_event(
        session,
        CaseStatusChanged(
            request_id=case.request_id,
            tracking_no=case.tracking_no,
            status=status,
            note=note,
            agency_responsible=agency,
            expected_at=expected_at,
            expected_provisional=provisional,
            changed_at=changed_at,
        ),
    )
    data = RequestStatusChangedData(
        tracking_no=case.tracking_no,
        channel=Channel(case.channel),
        status=status,
        status_label=status.label_zh,
        agency_responsible=agency,
        expected_at=expected_at,
        expected_provisional=provisional,
        note=note,
        changed_at=changed_at,
    )
    await webhook_service.notify_channel(session, case.channel, REQUEST_STATUS_CHANGED, data)


def case_snapshot(session: AsyncSession, case: Case, owner: OrgUnit) -> None:
    case.revision += 1
    case.updated_at = utcnow()
    if not stands_for_request(case):
        return  # not a request: scoring counts its cards and its members, never the case
    add_event(
        session,
        CaseSnapshot(
            case_id=case.id,
            revision=case.revision,
            request_id=case.request_id,
            tracking_no=case.tracking_no,
            channel=Channel(case.channel),
            type=RequestType(case.type),
            topic=Topic(case.topic),
            urgency=Urgency(case.urgency),
            classification=Classification(case.classification) if case.classification else None,
            status=CaseStatus(case.status),
            area_code=case.area_code,
            owner_unit_code=owner.code,
            owner_unit_path=owner.path,
            submitter=SubmitterInfo.model_validate(case.submitter),
            anonymous=case.anonymous,
            cppcc_member_id=case.cppcc_member_id,
            cppcc_visit_id=case.cppcc_visit_id,
            received_at=case.received_at,
            verified_at=case.verified_at,
            completed_at=case.completed_at,
            closed_at=case.closed_at,
            redo_count=case.redo_count,
            escalated=case.escalated,
        ),
    )


def card_snapshot(
    session: AsyncSession, card: Card, unit: OrgUnit, *, working_days_taken: int | None = None
) -> None:
    card.revision += 1
    card.updated_at = utcnow()
    add_event(
        session,
        CardSnapshot(
            card_id=card.id,
            case_id=card.case_id,
            revision=card.revision,
            unit_code=unit.code,
            unit_path=unit.path,
            unit_name=unit.name,
            unit_kind=UnitKind(unit.kind),
            role=CardRole(card.role),
            status=CardStatus(card.status),
            dispatched_at=card.dispatched_at,
            sign_due_at=card.sign_due_at,
            signed_at=card.signed_at,
            contact_due_at=card.contact_due_at,
            first_contact_at=card.first_contact_at,
            original_due_at=card.original_due_at,
            due_at=card.due_at,
            extension_approved=card.extension_approved,
            returned_at=card.returned_at,
            submitted_at=card.submitted_at,
            approved_at=card.approved_at,
            working_days_taken=working_days_taken,
            redo_count=card.redo_count,
            supervision_level=SupervisionLevel(card.supervision_level),
            listed=card.listed,
            project_id=card.project_id,
            procedure_code=card.procedure_code,
            limit_days=card.legal_limit_days,
            on_spot=card.on_spot,
        ),
    )
