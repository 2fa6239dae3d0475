from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from routing_service.assignment.cards import card_service
from routing_service.assignment.exceptions import CardNotFound, CaseNotFound
from routing_service.assignment.history import verify_chain
from routing_service.assignment.repository import CaseRepository, UnitRepository
from routing_service.assignment.schemas import (
    CardOut,
    CaseEventOut,
    CaseOut,
    ChainCheckOut,
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
    TransferIn,
    TransferOut,
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
from services.idempotency import respond_idempotently
from services.policy import authorize, authorize_in_scope
from services.responses import JSONResponse
from shared.enums import CaseStatus

router = APIRouter(prefix="/v1", tags=["cases"])
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
    return await case_out(session, await _load_case(session, principal, case_id, "case.read"))


@router.get(
    "/cases/by-tracking/{tracking_no}",
    response_model=CaseOut,
    responses=error_responses(401, 403, 404),
)
async def get_case_by_tracking(
    tracking_no: str, session: SessionDep, principal: CurrentPrincipal
) -> CaseOut:
    authorize(principal, "case.read")
    case = await CaseRepository.from_session(session).by_tracking_no(tracking_no[:32])
    if case is None or not await case_service.visible(session, principal, case):
        raise CaseNotFound()
    return await case_out(session, case)


@router.post(
    "/cases/{case_id}/verify", response_model=CaseOut, responses=WRITE_ERRORS, summary="核查"
)
async def verify_case(
    case_id: uuid.UUID,
    data: VerifyIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    case = await _load_case(session, principal, case_id, "case.verify")

    async def produce() -> CaseOut:
        await case_service.verify(session, principal, case, data)
        return await case_out(session, case)

    return await respond_idempotently(request, session, IdempotencyRecord, client_id=_client(principal),
                                      body=data.model_dump(mode="json"), produce=produce)  # fmt: skip


@router.post(
    "/cases/{case_id}/dispatch", response_model=CaseOut, responses=WRITE_ERRORS, summary="派单"
)
async def dispatch_case(
    case_id: uuid.UUID,
    data: DispatchIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
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
    responses=WRITE_ERRORS,
    summary="移交纪委监委",
)
async def transfer_case(
    case_id: uuid.UUID,
    data: TransferIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
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
                                      body=data.model_dump(mode="json"), produce=produce, status_code=201)  # fmt: skip


@router.post(
    "/cases/{case_id}/redo", response_model=CaseOut, responses=WRITE_ERRORS, summary="发回重办"
)
async def redo_case(
    case_id: uuid.UUID,
    data: RedoIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
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
    authorize(principal, "history.verify")
    case = await case_service.load(session, principal, case_id)
    return await verify_chain(session, case)


@router.get(
    "/audit/verify", response_model=list[ChainCheckOut], responses=error_responses(401, 403)
)
async def verify_all_history(
    session: SessionDep,
    principal: CurrentPrincipal,
    only_broken: bool = True,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> Any:
    """Verify the chains of many cases at once (paged by received time)."""
    authorize(principal, "history.verify")
    cases = (
        await session.scalars(select(Case).order_by(Case.received_at).limit(limit).offset(offset))
    ).all()
    checks = [await verify_chain(session, case) for case in cases]
    return [c for c in checks if not (only_broken and c.valid)]


@router.get("/transfers", response_model=list[TransferOut], responses=error_responses(401, 403))
async def list_transfers(session: SessionDep, principal: CurrentPrincipal) -> list[TransferOut]:
    authorize(principal, "transfer.read")
    rows = (await session.execute(
        select(DisciplineTransfer, Case.tracking_no, Case.submitter)
        .join(Case, Case.id == DisciplineTransfer.case_id)
        .order_by(DisciplineTransfer.transferred_at.desc()).limit(500)
    )).all()  # fmt: skip
    subject_ids = [t.subject_unit_id for t, _n, _s in rows if t.subject_unit_id]
    units = await UnitRepository.from_session(session).by_ids(subject_ids)
    return [
        TransferOut.model_validate(
            {
                **{c: getattr(t, c) for c in TransferOut.model_fields if hasattr(t, c)},
                "tracking_no": no,
                "subject_unit_code": units[t.subject_unit_id].code if t.subject_unit_id else None,
                "submitter": submitter,
            }  # fmt: skip
        )
        for t, no, submitter in rows
    ]


# ------------------------------------------------------------------------------ cards


@router.get("/cards/{card_id}", response_model=CardOut, responses=error_responses(401, 403, 404))
async def get_card(card_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> CardOut:
    authorize(principal, "case.read")
    card, case, unit = await card_service.load(session, principal, card_id)
    return card_out(card, unit, case.tracking_no)


async def _card_action(request: Request, session: SessionDep, principal: Principal, card_id: uuid.UUID,
                       action: str, body: Any, run: Any) -> JSONResponse:  # fmt: skip
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
                                      produce=produce)  # fmt: skip


@router.post(
    "/cards/{card_id}/sign", response_model=CardOut, responses=WRITE_ERRORS, summary="签收"
)
async def sign_card(
    card_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.work", None,
                              lambda card, case, unit: _none(card_service.sign(session, principal, card, case, unit)))  # fmt: skip


@router.post(
    "/cards/{card_id}/return", response_model=CardOut, responses=WRITE_ERRORS, summary="退单"
)
async def return_card(
    card_id: uuid.UUID,
    data: ReturnIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.return_card(session, principal, card, case, unit, data.reason)))  # fmt: skip


@router.post(
    "/cards/{card_id}/contact",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="首次联系诉求人",
)
async def contact(
    card_id: uuid.UUID,
    data: NoteIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.add_note(session, principal, card, case, unit, "contact", data.text, data.attachments)))  # fmt: skip


@router.post(
    "/cards/{card_id}/progress", response_model=CardOut, responses=WRITE_ERRORS, summary="办理进展"
)
async def progress(
    card_id: uuid.UUID,
    data: NoteIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.add_note(session, principal, card, case, unit, "progress", data.text, data.attachments)))  # fmt: skip


@router.post(
    "/cards/{card_id}/extensions", responses=WRITE_ERRORS, status_code=201, summary="申请延期"
)
async def request_extension(
    card_id: uuid.UUID,
    data: ExtensionRequestIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    async def run(card: Card, case: Case, unit: OrgUnit) -> Any:
        extension = await card_service.request_extension(session, principal, card, case, unit, data)
        return ExtensionOut(
            id=extension.id, days=extension.days, status=extension.status, reason=extension.reason
        )

    response = await _card_action(
        request, session, principal, card_id, "card.work", data.model_dump(mode="json"), run
    )
    response.status_code = 201
    return response


@router.post(
    "/cards/{card_id}/complete", response_model=CardOut, responses=WRITE_ERRORS, summary="办结"
)
async def complete_card(
    card_id: uuid.UUID,
    data: CompleteIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.work", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(card_service.complete(session, principal, card, case, unit, data)))  # fmt: skip


@router.post(
    "/cards/{card_id}/review", response_model=CardOut, responses=WRITE_ERRORS, summary="审核办结"
)
async def review_card(
    card_id: uuid.UUID,
    data: ReviewIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.review", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(case_service.review(session, principal, case, card, data.accept, data.note)))  # fmt: skip


@router.post(
    "/cards/{card_id}/extensions/{extension_id}/decide",
    response_model=CardOut,
    responses=WRITE_ERRORS,
    summary="审批延期",
)
async def decide_extension(card_id: uuid.UUID, extension_id: uuid.UUID, data: ExtensionDecisionIn, request: Request,
                           session: SessionDep, principal: CurrentPrincipal) -> JSONResponse:  # fmt: skip
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
    "/cards/{card_id}/suspend", response_model=CardOut, responses=WRITE_ERRORS, summary="挂起"
)
async def suspend_card(
    card_id: uuid.UUID,
    data: SuspendIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.suspend", data.model_dump(mode="json"),
                              lambda card, case, unit: _none(case_service.suspend(session, principal, case, card, f"[{data.kind}] {data.reason}")))  # fmt: skip


@router.post(
    "/cards/{card_id}/resume", response_model=CardOut, responses=WRITE_ERRORS, summary="恢复办理"
)
async def resume_card(
    card_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    return await _card_action(request, session, principal, card_id, "card.suspend", None,
                              lambda card, case, unit: _none(case_service.resume(session, principal, case, card)))  # fmt: skip


async def _none(awaitable: Any) -> None:
    await awaitable
