from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from routing_service.assignment.cards import card_service
from routing_service.assignment.exceptions import CardNotFound, CaseNotFound
from routing_service.assignment.history import verify_chain
from routing_service.assignment.repository import CaseRepository, UnitRepository
from routing_service.assignment.schemas import (
    AuditFilters,
    CardOut,
    CaseEventOut,
    CaseOut,
    ChainCheckOut,
    ChainCheckPage,
    CloseIn,
    CompleteIn,
    DispatchIn,
    ExtensionDecisionIn,
    ExtensionOut,
    ExtensionRequestIn,
    MilestoneDoneIn,
    MilestoneOut,
    NoteIn,
    RedoIn,
    ReturnIn,
    ReviewIn,
    SuspendIn,
    TransferFilters,
    TransferIn,
    TransferOut,
    TransferPage,
    UnitSuggestionOut,
    VerifyIn,
)
from routing_service.assignment.service import case_service
from routing_service.auth import CurrentPrincipal
from routing_service.models import (
    Card,
    Case,
    CaseEvent,
    DisciplineTransfer,
    Extension,
    IdempotencyRecord,
    Milestone,
    OrgUnit,
)
from services.auth import Principal
from services.db import SessionDep
from services.errors import NotFound, error_responses
from services.idempotency import ACCEPTS_IDEMPOTENCY_KEY, respond_idempotently
from services.pagination import Key, Keyset, query_fingerprint, read_page
from services.policy import authorize, authorize_in_scope
from services.responses import JSONResponse, resource_path
from shared.enums import CaseStatus

router = APIRouter(prefix="/v1", tags=["cases"])
CASE_RECEIVED_ORDER = Keyset((Key(Case.received_at, "datetime"), Key(Case.id, "uuid")))
TRANSFER_ORDER = Keyset(
    (
        Key(DisciplineTransfer.transferred_at, "datetime", True),
        Key(DisciplineTransfer.id, "uuid", True),
    )
)
WRITE_ERRORS = error_responses(401, 403, 404, 409, 422)


def card_out(card: Card, unit: OrgUnit, tracking_no: str | None = None) -> CardOut:
    return CardOut.model_validate(
        {
            **{c: getattr(card, c) for c in CardOut.model_fields if hasattr(card, c)},
            "unit_code": unit.code,
            "unit_name": unit.name,
            "tracking_no": tracking_no,
        }  # fmt: skip
    )


async def case_out(
    session: SessionDep,
    case: Case,
    *,
    with_suggestions: bool = True,
    dispatched: tuple[Sequence[Card], Sequence[Milestone]] | None = None,
) -> CaseOut:
    """The case as answered to staff. ``dispatched``: the cards and milestones this transaction
    just created, when the answer follows a dispatch."""
    repository = CaseRepository.from_session(session)
    cards = await repository.cards(case.id)
    units = await UnitRepository.from_session(session).by_ids(
        [c.unit_id for c in cards] + [case.owner_unit_id]
    )
    if dispatched is not None and {c.id for c in cards} == {c.id for c in dispatched[0]}:
        # Milestones are only created by a dispatch, which always creates cards: a case whose
        # only cards are this dispatch's has no milestones but this dispatch's.
        milestones: Sequence[Milestone] = dispatched[1]
    else:
        milestones = await repository.milestones(case.id)
    suggestions: list[UnitSuggestionOut] = []
    if with_suggestions and case.status == CaseStatus.awaiting_dispatch.value:
        suggestions = await _suggestions(session, case)
    return _case_out(case, cards, milestones, units, suggestions)


async def cases_out(session: SessionDep, cases: Sequence[Case]) -> list[CaseOut]:
    """A page of cases in three queries (cards, milestones, units), not three per case."""
    ids = [case.id for case in cases]
    if not ids:
        return []
    cards = (
        await session.scalars(
            select(Card).where(Card.case_id.in_(ids)).order_by(Card.dispatched_at)
        )
    ).all()
    milestones = (
        await session.scalars(
            select(Milestone).where(Milestone.case_id.in_(ids)).order_by(Milestone.position)
        )
    ).all()
    units = await UnitRepository.from_session(session).by_ids(
        [c.unit_id for c in cards] + [case.owner_unit_id for case in cases]
    )
    return [
        _case_out(case, [c for c in cards if c.case_id == case.id],
                  [m for m in milestones if m.case_id == case.id], units, [])
        for case in cases
    ]  # fmt: skip


def _case_out(
    case: Case,
    cards: Sequence[Card],
    milestones: Sequence[Milestone],
    units: dict[uuid.UUID, OrgUnit],
    suggestions: list[UnitSuggestionOut],
) -> CaseOut:
    return CaseOut.model_validate(
        {
            **{c: getattr(case, c) for c in CaseOut.model_fields if hasattr(case, c)},
            "status_label": CaseStatus(case.status).label_zh,
            "owner_unit_code": units[case.owner_unit_id].code,
            "cards": [card_out(c, units[c.unit_id]) for c in cards],
            "milestones": [MilestoneOut.model_validate(m) for m in milestones],
            "suggestions": suggestions,
        }
    )


async def _suggestions(session: SessionDep, case: Case) -> list[UnitSuggestionOut]:
    try:
        from routing_service.department.service import suggest_units
    except ImportError:  # the dispatch catalogue module is optional in minimal deployments
        return []
    found = await suggest_units(session, case.topic, case.area_code)
    return [UnitSuggestionOut.model_validate(s, from_attributes=True) for s in found]


async def _load_case(
    session: SessionDep, principal: Principal, case_id: uuid.UUID, action: str
) -> Case:
    authorize(principal, action)
    return await case_service.load(session, principal, case_id, for_update=action != "case.read")


def _client(principal: Principal) -> str:
    return principal.actor[:64]


# ------------------------------------------------------------------------------ cases


@router.get("/cases/{case_id}", response_model=CaseOut, responses=error_responses(401, 403, 404))
async def get_case(case_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> CaseOut:
    """One case with its cards, milestones and (while awaiting dispatch) unit suggestions. Any
    reader of cases (case.read: staff, department keys, services) within scope; outside it, 404."""
    return await case_out(session, await _load_case(session, principal, case_id, "case.read"))


@router.get(
    "/cases/by-tracking/{tracking_no}",
    response_model=CaseOut,
    responses=error_responses(401, 403, 404),
)
async def get_case_by_tracking(
    tracking_no: str, session: SessionDep, principal: CurrentPrincipal
) -> CaseOut:
    """The case of a tracking number (受理编号), on the same terms as reading it by id (case.read, in
    scope; else 404)."""
    authorize(principal, "case.read")
    case = await CaseRepository.from_session(session).by_tracking_no(tracking_no[:32])
    if case is None or not await case_service.visible(session, principal, case):
        raise CaseNotFound()
    return await case_out(session, case)


@router.post(
    "/cases/{case_id}/verify",
    response_model=CaseOut,
    responses=WRITE_ERRORS,
    summary="核查",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def verify_case(
    case_id: uuid.UUID,
    data: VerifyIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """核查: accept (with its classification), reject, merge into another case or answer directly a
    case awaiting verification. Operators, dispatchers, supervisors, leaders and admins
    (case.verify); accepts `Idempotency-Key`."""
    case = await _load_case(session, principal, case_id, "case.verify")

    async def produce() -> CaseOut:
        await case_service.verify(session, principal, case, data)
        return await case_out(session, case)

    return await respond_idempotently(request, session, IdempotencyRecord, client_id=_client(principal),
                                      body=data.model_dump(mode="json"), produce=produce)  # fmt: skip


@router.post(
    "/cases/{case_id}/dispatch",
    response_model=CaseOut,
    responses=WRITE_ERRORS,
    summary="派单",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def dispatch_case(
    case_id: uuid.UUID,
    data: DispatchIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """派单: dispatch a verified case to one or more units, each card with its deadline in working
    days. Dispatchers, supervisors, leaders and admins (case.dispatch); accepts `Idempotency-Key`.
    """
    case = await _load_case(session, principal, case_id, "case.dispatch")

    async def produce() -> CaseOut:
        dispatched = await case_service.dispatch(session, principal, case, data)
        await session.flush()
        return await case_out(session, case, with_suggestions=False, dispatched=dispatched)

    return await respond_idempotently(request, session, IdempotencyRecord, client_id=_client(principal),
                                      body=data.model_dump(mode="json"), produce=produce)  # fmt: skip


@router.post(
    "/cases/{case_id}/transfer",
    response_model=TransferOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="移交纪委监委",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def transfer_case(
    case_id: uuid.UUID,
    data: TransferIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """移交纪委监委: transfer a case to the discipline commission, with the reason, the unit concerned
    and evidence. Supervisors, leaders and admins (case.transfer); answers 201 with `Location`
    naming the case, which shows the transfer."""
    case = await _load_case(session, principal, case_id, "case.transfer")

    async def produce() -> TransferOut:
        transfer = await case_service.transfer(session, principal, case, data)
        return TransferOut.model_validate(
            {
                **{
                    c: getattr(transfer, c)
                    for c in TransferOut.model_fields
                    if hasattr(transfer, c)
                },
                "tracking_no": case.tracking_no,
                "subject_unit_code": data.subject_unit_code,
            }  # fmt: skip
        )

    return await respond_idempotently(request, session, IdempotencyRecord, client_id=_client(principal),
                                      body=data.model_dump(mode="json"), produce=produce, status_code=201,
                                      # A transfer has no route of its own: its case shows it.
                                      location=lambda _body: resource_path(request, "get_case", case_id=case_id))  # fmt: skip


@router.post(
    "/cases/{case_id}/redo",
    response_model=CaseOut,
    responses=WRITE_ERRORS,
    summary="发回重办",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def redo_case(
    case_id: uuid.UUID,
    data: RedoIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """发回重办: reopen a case (e.g. after an unsatisfied rating), so its cards are worked again; the
    second redo escalates. Supervisors, leaders, admins and the scoring service (case.redo);
    accepts `Idempotency-Key`."""
    case = await _load_case(session, principal, case_id, "case.redo")

    async def produce() -> CaseOut:
        await case_service.redo(session, principal, case, data.reason)
        await session.flush()
        return await case_out(session, case, with_suggestions=False)

    return await respond_idempotently(request, session, IdempotencyRecord, client_id=_client(principal),
                                      body=data.model_dump(mode="json"), produce=produce)  # fmt: skip


@router.post(
    "/cases/{case_id}/close", response_model=CaseOut, responses=WRITE_ERRORS, summary="归档"
)
async def close_case(
    case_id: uuid.UUID, data: CloseIn, session: SessionDep, principal: CurrentPrincipal
) -> CaseOut:
    """归档: close a case once its work is done and reviewed. Supervisors, leaders, admins and the
    scoring service (case.close)."""
    case = await _load_case(session, principal, case_id, "case.close")
    await case_service.close(session, principal, case, data.note)
    return await case_out(session, case, with_suggestions=False)


@router.post(
    "/cases/{case_id}/milestones/{milestone_id}/done",
    response_model=MilestoneOut,
    responses=WRITE_ERRORS,
)
async def complete_milestone(case_id: uuid.UUID, milestone_id: uuid.UUID, data: MilestoneDoneIn,
                             session: SessionDep, principal: CurrentPrincipal) -> Milestone:  # fmt: skip
    """Mark one of a case's milestones (时限节点) done, with an optional note. Dispatchers,
    supervisors, leaders and admins (case.milestone)."""
    case = await _load_case(session, principal, case_id, "case.milestone")
    milestone = await session.get(Milestone, milestone_id)
    if milestone is None or milestone.case_id != case.id:
        raise NotFound("里程碑不存在", "Milestone not found", code="milestone_not_found")
    return await case_service.complete_milestone(session, principal, case, milestone, data.note)


@router.get(
    "/cases/{case_id}/history",
    response_model=list[CaseEventOut],
    responses=error_responses(401, 403, 404),
)
async def case_history(
    case_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> list[CaseEvent]:
    """The case's history (留痕), oldest first: every step with who did it and when, each event
    chained to the one before. Any reader of the case (case.read, in scope)."""
    case = await _load_case(session, principal, case_id, "case.read")
    return list(
        (
            await session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
            )
        ).all()
    )


@router.get(
    "/cases/{case_id}/history/verify",
    response_model=ChainCheckOut,
    responses=error_responses(401, 403, 404),
)
async def verify_history(
    case_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Any:
    """Check that a case's history chain is intact (no event changed, removed or inserted).
    Auditors, the discipline commission, leaders and admins (history.verify)."""
    authorize(principal, "history.verify")
    case = await case_service.load(session, principal, case_id)
    return await verify_chain(session, case)


@router.get(
    "/audit/verify", response_model=ChainCheckPage, responses=error_responses(400, 401, 403, 422)
)
async def verify_all_history(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[AuditFilters, Query()],
) -> ChainCheckPage:
    """Verify the history chains of many cases at once: each page checks up to `limit` cases
    by received time and, with `only_broken` (the default), answers only the broken ones, so a
    page may hold fewer items than `limit` and still have a `next_cursor`. Auditors, the
    discipline commission, leaders and admins (history.verify)."""
    authorize(principal, "history.verify")
    cases, next_cursor, total = await read_page(
        session, select(Case), CASE_RECEIVED_ORDER, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total,
    )  # fmt: skip
    checks = [await verify_chain(session, case) for case in cases]
    return ChainCheckPage(
        items=[ChainCheckOut.model_validate(c) for c in checks if not (filters.only_broken and c.valid)],
        next_cursor=next_cursor, limit=filters.limit, total=total,
    )  # fmt: skip


@router.get(
    "/transfers", response_model=TransferPage, responses=error_responses(400, 401, 403, 422)
)
async def list_transfers(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[TransferFilters, Query()],
) -> TransferPage:
    """Cases transferred to the discipline commission (移交纪委监委), newest first, with the
    submitter. The discipline commission, leaders, auditors and admins (transfer.read)."""
    authorize(principal, "transfer.read")
    transfers, next_cursor, total = await read_page(
        session, select(DisciplineTransfer), TRANSFER_ORDER, cursor=filters.cursor,
        limit=filters.limit, with_total=filters.with_total,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
    )  # fmt: skip
    cases: dict[uuid.UUID, tuple[str, Any]] = {}
    if transfers:
        found = await session.execute(
            select(Case.id, Case.tracking_no, Case.submitter).where(
                Case.id.in_({t.case_id for t in transfers})
            )
        )
        cases = {row.id: (row.tracking_no, row.submitter) for row in found}
    subject_ids = [t.subject_unit_id for t in transfers if t.subject_unit_id]
    units = await UnitRepository.from_session(session).by_ids(subject_ids)
    items = [
        TransferOut.model_validate(
            {
                **{c: getattr(t, c) for c in TransferOut.model_fields if hasattr(t, c)},
                "tracking_no": cases[t.case_id][0],
                "subject_unit_code": units[t.subject_unit_id].code if t.subject_unit_id else None,
                "submitter": cases[t.case_id][1],
            }  # fmt: skip
        )
        for t in transfers
    ]
    return TransferPage(items=items, next_cursor=next_cursor, limit=filters.limit, total=total)


# ------------------------------------------------------------------------------ cards


@router.get("/cards/{card_id}", response_model=CardOut, responses=error_responses(401, 403, 404))
async def get_card(card_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> CardOut:
    """One card (a unit's part of a case) with its deadline, state and notes. Readers of cases
    (case.read) whose scope covers the card's unit or its case."""
    authorize(principal, "case.read")
    card, case, unit = await card_service.load(session, principal, card_id)
    return card_out(card, unit, case.tracking_no)


async def _card_action(request: Request, session: SessionDep, principal: Principal, card_id: uuid.UUID,
                       action: str, body: Any, run: Any, *, status_code: int = 200,
                       location: Callable[[Case], str] | None = None) -> JSONResponse:  # fmt: skip
    authorize(principal, action)
    card, case, unit = await card_service.load(session, principal, card_id)
    if action == "card.work":
        authorize_in_scope(principal, unit.path, CardNotFound())

    async def produce() -> Any:
        result = await run(card, case, unit)
        await session.flush()
        return result if result is not None else card_out(card, unit, case.tracking_no)

    return await respond_idempotently(request, session, IdempotencyRecord, client_id=_client(principal),
                                      body={"card": str(card_id), "action": request.url.path, "data": body},
                                      produce=produce, status_code=status_code,
                                      location=(lambda _body: location(case)) if location else None)  # fmt: skip


@router.post(
    "/cards/{card_id}/sign",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="签收",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def sign_card(
    card_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    """签收: the unit takes the card on. Department staff, that department's API key or an admin
    acting for it (card.work, own unit only); accepts `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.work", None,
                              lambda card, case, unit: _none(card_service.sign(session, principal, card, case, unit)))  # fmt: skip


@router.post(
    "/cards/{card_id}/return",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="退单",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def return_card(
    card_id: uuid.UUID,
    data: ReturnIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """退单: the unit returns a card that is not its business, with the reason (not allowed for a
    designated dispatch). Department staff or key of the card's unit (card.work); accepts
    `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.return_card(session, principal, card, case, unit, data.reason)))  # fmt: skip


@router.post(
    "/cards/{card_id}/contact",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="首次联系诉求人",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def contact(
    card_id: uuid.UUID,
    data: NoteIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """首次联系诉求人: record the first contact with the submitter. Department staff or key of the card's
    unit (card.work); accepts `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.add_note(session, principal, card, case, unit, "contact", data.text, data.attachments)))  # fmt: skip


@router.post(
    "/cards/{card_id}/progress",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="办理进展",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def progress(
    card_id: uuid.UUID,
    data: NoteIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """办理进展: record progress on a card, with attachments. Department staff or key of the card's
    unit (card.work); accepts `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.add_note(session, principal, card, case, unit, "progress", data.text, data.attachments)))  # fmt: skip


@router.post(
    "/cards/{card_id}/extensions",
    response_model=ExtensionOut,
    responses=WRITE_ERRORS,
    status_code=201,
    summary="申请延期",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def request_extension(
    card_id: uuid.UUID,
    data: ExtensionRequestIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """申请延期: ask for more working days on a card, with the reason; the center decides. Department
    staff or key of the card's unit (card.work); answers 201 with `Location` naming the case's
    history, which records the request (and later its decision)."""

    async def run(card: Card, case: Case, unit: OrgUnit) -> Any:
        extension = await card_service.request_extension(session, principal, card, case, unit, data)
        return ExtensionOut(
            id=extension.id, days=extension.days, status=extension.status, reason=extension.reason
        )

    # An extension request has no route of its own: the case's history shows it (its id, days
    # and reason), and then its decision.
    return await _card_action(
        request, session, principal, card_id, "card.work", data.model_dump(mode="json"), run,
        status_code=201,
        location=lambda case: resource_path(request, "case_history", case_id=case.id),
    )  # fmt: skip


@router.post(
    "/cards/{card_id}/complete",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="办结",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def complete_card(
    card_id: uuid.UUID,
    data: CompleteIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """办结: report a card's result, with evidence, for the center's review. Department staff or key
    of the card's unit (card.work); accepts `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.complete(session, principal, card, case, unit, data)))  # fmt: skip


@router.post(
    "/cards/{card_id}/review",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="审核办结",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def review_card(
    card_id: uuid.UUID,
    data: ReviewIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """审核办结: the center accepts a completed card or sends it back with a note. Dispatchers,
    supervisors, leaders and admins (card.review); accepts `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.review", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(case_service.review(session, principal, case, card, data.accept, data.note)))  # fmt: skip


@router.post(
    "/cards/{card_id}/extensions/{extension_id}/decide",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="审批延期",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def decide_extension(card_id: uuid.UUID, extension_id: uuid.UUID, data: ExtensionDecisionIn, request: Request,
                           session: SessionDep, principal: CurrentPrincipal) -> JSONResponse:  # fmt: skip
    """审批延期: approve (moving the deadline) or reject a card's extension request. Supervisors,
    leaders and admins (card.extension.decide); accepts `Idempotency-Key`."""

    async def run(card: Card, case: Case, unit: OrgUnit) -> Any:
        extension = await session.get(Extension, extension_id)
        if extension is None or extension.card_id != card.id:
            raise NotFound(
                "延期申请不存在", "Extension request not found", code="extension_not_found"
            )
        await case_service.decide_extension(
            session, principal, case, card, extension, data.approve, data.note
        )

    return await _card_action(
        request,
        session,
        principal,
        card_id,
        "card.extension.decide",
        data.model_dump(mode="json"),
        run,
    )


@router.post(
    "/cards/{card_id}/suspend",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="挂起",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def suspend_card(
    card_id: uuid.UUID,
    data: SuspendIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    """挂起: stop a card's clock (submitter unreachable, a legal procedure, other), with the reason.
    Supervisors, leaders and admins (card.suspend); accepts `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.suspend", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(case_service.suspend(session, principal, case, card, f"[{data.kind}] {data.reason}")))  # fmt: skip


@router.post(
    "/cards/{card_id}/resume",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="恢复办理",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def resume_card(
    card_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    """恢复办理: restart a suspended card's clock; its deadlines move by the working days it was
    suspended. Supervisors, leaders and admins (card.suspend); accepts `Idempotency-Key`."""
    return await _card_action(request, session, principal, card_id, "card.suspend", None,
                              lambda card, case, unit: _none(case_service.resume(session, principal, case, card)))  # fmt: skip


async def _none(awaitable: Any) -> None:
    await awaitable
