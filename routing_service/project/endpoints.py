"""Projects (帮办代办 · 重点项目) at ``/v1/projects`` and the procedure catalogue (事项目录) at
``/v1/procedures``. One enterprise's projects are the list filtered by ``uscc=``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.security import APIKeyHeader
from pydantic import RootModel

from routing_service.auth import CurrentPrincipal
from routing_service.models import IdempotencyRecord
from routing_service.project import history
from routing_service.project.agency import agency_service
from routing_service.project.exceptions import ProcedureNotFound
from routing_service.project.repository import ProcedureRepository
from routing_service.project.schemas import (
    BlockerCreatedOut,
    BlockerIn,
    BlockerOut,
    PlanIn,
    ProcedureCode,
    ProcedureDocument,
    ProcedureFilters,
    ProcedureImportReport,
    ProcedureIn,
    ProcedureOut,
    ProcedurePatch,
    ProjectChainCheckOut,
    ProjectCreatedOut,
    ProjectDetailOut,
    ProjectEventOut,
    ProjectFilters,
    ProjectIn,
    ProjectOut,
    ProjectPatch,
    RecordIn,
    RecordOut,
    RedispatchIn,
    StageIn,
    StepCancelIn,
    StepOut,
    TrackingSecretOut,
)
from routing_service.project.service import PROJECT_ORDER, catalogue_service, project_service
from services.db import SessionDep
from services.errors import error_responses
from services.idempotency import ACCEPTS_IDEMPOTENCY_KEY, read_key, respond_idempotently
from services.pagination import query_fingerprint, read_page
from services.policy import authorize
from services.responses import set_location
from shared.schemas.page import CursorPage
from shared.schemas.project import ProjectProgressOut

router = APIRouter(prefix="/v1")

# --- the procedure catalogue ------------------------------------------------------------------


@router.get(
    "/procedures",
    response_model=list[ProcedureOut],
    responses=error_responses(401, 403, 422),
    tags=["procedures"],
    summary="The procedure catalogue (事项目录), by code",
)
async def list_procedures(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[ProcedureFilters, Query()],
) -> list[ProcedureOut]:
    """Every procedure of the catalogue with its responsible department, legal time limit in
    working days and prerequisites, by code (a few dozen rows: not paged). Any staff reader
    (procedure.read)."""
    authorize(principal, "procedure.read")
    return await catalogue_service.procedures(session, filters.active)


@router.get(
    "/procedures/{code}",
    response_model=ProcedureOut,
    responses=error_responses(401, 403, 404, 422),
    tags=["procedures"],
    summary="One procedure of the catalogue",
)
async def get_procedure(
    code: Annotated[ProcedureCode, Path()], session: SessionDep, principal: CurrentPrincipal
) -> ProcedureOut:
    """One procedure by its code. Any staff reader (procedure.read)."""
    authorize(principal, "procedure.read")
    found = await ProcedureRepository(session).get_by_code(code)
    if found is None:
        raise ProcedureNotFound(details={"code": code})
    return (await catalogue_service.out(session, [found]))[0]


@router.post(
    "/procedures",
    status_code=status.HTTP_201_CREATED,
    response_model=ProcedureOut,
    responses=error_responses(401, 403, 409, 422),
    tags=["procedures"],
    summary="Add a procedure to the catalogue (admin)",
)
async def create_procedure(
    body: ProcedureIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ProcedureOut:
    """Add a procedure (admins, procedure.manage). Its prerequisites must be procedures of the
    catalogue and may not form a cycle; its responsible unit must be an active department.
    Answers 201 with `Location`."""
    authorize(principal, "procedure.manage")
    created = await catalogue_service.create(session, body)
    set_location(response, request, "get_procedure", code=created.code)
    return (await catalogue_service.out(session, [created]))[0]


@router.patch(
    "/procedures/{code}",
    response_model=ProcedureOut,
    responses=error_responses(401, 403, 404, 422),
    tags=["procedures"],
    summary="Change a procedure of the catalogue (admin)",
)
async def patch_procedure(
    code: Annotated[ProcedureCode, Path()],
    body: ProcedurePatch,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ProcedureOut:
    """Change a procedure's name, responsible unit (null clears it), time limit, prerequisites
    (checked as on creation) or active flag (admins, procedure.manage)."""
    authorize(principal, "procedure.manage")
    changed = await catalogue_service.patch(session, code, body)
    return (await catalogue_service.out(session, [changed]))[0]


@router.post(
    "/procedures/import",
    response_model=ProcedureImportReport,
    responses=error_responses(401, 403, 422),
    tags=["procedures"],
    summary="Import a whole catalogue (admin; idempotent, all-or-nothing)",
)
async def import_procedures(
    body: ProcedureDocument, session: SessionDep, principal: CurrentPrincipal
) -> ProcedureImportReport:
    """Upsert procedures by code from a JSON document (admins, procedure.manage). The whole
    document is checked first (duplicate codes, responsible units, unknown prerequisites,
    cycles over the resulting catalogue) and every problem is reported in `details`; nothing
    is written unless it is valid. Procedures missing from the document are left alone."""
    authorize(principal, "procedure.manage")
    return await catalogue_service.import_document(session, body)


# --- projects ---------------------------------------------------------------------------------


@router.get(
    "/projects",
    response_model=CursorPage[ProjectOut],
    responses=error_responses(400, 401, 403, 422),
    tags=["projects"],
    summary="Projects in your scope: filter by level, stage, area, agent or enterprise",
)
async def list_projects(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[ProjectFilters, Query()],
) -> CursorPage[ProjectOut]:
    """The projects in the caller's scope (project.read: a center those of its subtree, by area
    or responsible center, and those it is the agent of; district-level readers all), newest
    first. One enterprise's projects: `uscc=`. Cursor pages: pass `next_cursor` back as
    `cursor`; `with_total=true` adds a count."""
    authorize(principal, "project.read")
    stmt = await project_service.list_statement(session, principal, filters)
    rows, next_cursor, total = await read_page(
        session, stmt, PROJECT_ORDER, cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total,
    )  # fmt: skip
    return CursorPage[ProjectOut](
        items=await project_service.out(session, rows),
        next_cursor=next_cursor, limit=filters.limit, total=total,
    )  # fmt: skip


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectCreatedOut,
    responses=error_responses(401, 403, 422),
    tags=["projects"],
    summary="Register a project (center staff, in their area)",
)
async def create_project(
    body: ProjectIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ProjectCreatedOut:
    """Register an enterprise's investment project (project.create) in the caller's area: its
    area must be an active unit, its responsible center an active center (by default the area
    unit), its agent an active center staff member. Answers 201 with `Location`, the project's
    tracking number and its tracking secret (shown only here: the enterprise follows its project
    with both through intake)."""
    authorize(principal, "project.create")
    created, secret = await project_service.create(session, principal, body)
    set_location(response, request, "get_project", project_id=created.id)
    out = (await project_service.out(session, [created]))[0]
    return ProjectCreatedOut(**out.model_dump(), tracking_secret=secret)


@router.get(
    "/projects/{project_id}",
    response_model=ProjectDetailOut,
    responses=error_responses(401, 403, 404, 422),
    tags=["projects"],
    summary="One project with its stage history",
)
async def get_project(
    project_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ProjectDetailOut:
    """One project in the caller's scope (project.read) with its history, oldest first (each
    event chained to the one before)."""
    authorize(principal, "project.read")
    project = await project_service.load(session, principal, project_id)
    out = (await project_service.out(session, [project]))[0]
    events = await history.events(session, project.id)
    return ProjectDetailOut(
        **out.model_dump(), history=[ProjectEventOut.model_validate(e) for e in events]
    )


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectOut,
    responses=error_responses(401, 403, 404, 422),
    tags=["projects"],
    summary="Change a project's details (center staff of its area, its agent)",
)
async def patch_project(
    project_id: uuid.UUID, body: ProjectPatch, session: SessionDep, principal: CurrentPrincipal
) -> ProjectOut:
    """Change a project's details (project.update; center staff of its subtree and its agent);
    the stage changes through `POST /v1/projects/{id}/stage`. Recorded in its history."""
    authorize(principal, "project.update")
    changed = await project_service.patch(session, principal, project_id, body)
    return (await project_service.out(session, [changed]))[0]


@router.post(
    "/projects/{project_id}/stage",
    response_model=ProjectOut,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["projects"],
    summary="Move a project to its next stage, pause, resume or terminate it",
)
async def change_stage(
    project_id: uuid.UUID, body: StageIn, session: SessionDep, principal: CurrentPrincipal
) -> ProjectOut:
    """谋划 → 签约 → 开工 → 续建 → 建成投用, one stage at a time (a skip or a step back is 409
    `invalid_stage_transition`); 暂停 and 终止 need a reason; a paused project resumes to the
    stage it left; 建成投用 and 终止 are final (409 `project_stage_final`). Center staff of the
    project's subtree and its agent (project.stage); recorded in its history."""
    authorize(principal, "project.stage")
    changed = await project_service.stage(session, principal, project_id, body)
    return (await project_service.out(session, [changed]))[0]


@router.get(
    "/projects/{project_id}/history/verify",
    response_model=ProjectChainCheckOut,
    responses=error_responses(401, 403, 404),
    tags=["projects"],
    summary="Check that a project's history chain is intact",
)
async def verify_project_history(
    project_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ProjectChainCheckOut:
    """Check that a project's history chain is intact (no event changed, removed or inserted).
    Auditors, the discipline commission, leaders and admins (history.verify)."""
    authorize(principal, "history.verify")
    project = await project_service.load(session, principal, project_id)
    return await history.verify_chain(session, project)


# --- the agency plan (代办事项) ------------------------------------------------------------------

TrackingNo = Annotated[str, Path(min_length=4, max_length=32, pattern=r"^[0-9A-Za-z\-]+$")]
_tracking_secret = APIKeyHeader(
    name="X-Tracking-Secret",
    scheme_name="trackingSecret",
    description="项目查询密码 / The project's tracking secret, as the enterprise gave it",
    auto_error=False,
)


async def _timeline(
    session: SessionDep, principal: CurrentPrincipal, project_id: uuid.UUID
) -> list[StepOut]:
    project = await project_service.load(session, principal, project_id)
    return await agency_service.timeline(session, principal, project)


@router.get(
    "/projects/{project_id}/steps",
    response_model=list[StepOut],
    responses=error_responses(401, 403, 404, 422),
    tags=["projects"],
    summary="A project's agency plan as a timeline",
)
async def list_steps(
    project_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> list[StepOut]:
    """The plan in order: each step with its department, legal or promised working days, what
    it waits for, its card's deadline and place on the supervision ladder, and the agent's
    records. project.read; a department sees the projects where it holds a step, and of those
    its own steps only."""
    authorize(principal, "project.read")
    return await _timeline(session, principal, project_id)


@router.post(
    "/projects/{project_id}/steps",
    status_code=status.HTTP_201_CREATED,
    response_model=list[StepOut],
    responses={
        **error_responses(401, 403, 404, 409, 422),
        **{201: {"description": "The whole plan after the change"}},
    },
    tags=["projects"],
    summary="Add steps to a project's agency plan (each becomes a card)",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def add_steps(
    project_id: uuid.UUID,
    body: PlanIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    """Choose procedures of the catalogue for the project, all or nothing. A step whose
    prerequisites in the plan are done is dispatched at once as a card for its department, with
    its deadline in working days (the legal limit, or fewer promised); the others wait and are
    dispatched as their prerequisites are approved. `on_spot` (当场办结) records a step done at
    the counter. Center staff of the project's subtree and its agent (project.plan); accepts
    `Idempotency-Key`; answers the whole plan."""
    authorize(principal, "project.plan")
    project = await project_service.load(session, principal, project_id, for_update=True)

    async def produce() -> _Plan:
        await agency_service.plan(session, principal, project, body)
        return _Plan(await agency_service.timeline(session, principal, project))

    answer = await respond_idempotently(request, session, IdempotencyRecord, client_id=principal.actor[:64],
                                        body=body.model_dump(mode="json"), produce=produce,
                                        status_code=status.HTTP_201_CREATED)  # fmt: skip
    answer.headers["Location"] = str(request.url_for("list_steps", project_id=project_id).path)
    return answer


@router.post(
    "/projects/{project_id}/steps/{step_id}/dispatch",
    response_model=StepOut,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["projects"],
    summary="Send a returned step again",
)
async def redispatch_step(
    project_id: uuid.UUID, step_id: uuid.UUID, body: RedispatchIn,
    session: SessionDep, principal: CurrentPrincipal,
) -> StepOut:  # fmt: skip
    """A step its department returned (退单) waits at the center: send it again, to the same
    department or another (`unit_code`), with a new card and deadline. project.plan."""
    authorize(principal, "project.plan")
    project = await project_service.load(session, principal, project_id, for_update=True)
    step = await agency_service.step(session, project, step_id)
    await agency_service.redispatch(session, principal, project, step, body)
    return await _one(session, principal, project_id, step_id)


@router.post(
    "/projects/{project_id}/steps/{step_id}/cancel",
    response_model=StepOut,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["projects"],
    summary="Drop a step from the plan",
)
async def cancel_step(
    project_id: uuid.UUID, step_id: uuid.UUID, body: StepCancelIn,
    session: SessionDep, principal: CurrentPrincipal,
) -> StepOut:  # fmt: skip
    """Drop a step that is not done (its open card is cancelled and the department told);
    steps that waited on it may start. project.plan; a reason is required."""
    authorize(principal, "project.plan")
    project = await project_service.load(session, principal, project_id, for_update=True)
    step = await agency_service.step(session, project, step_id)
    await agency_service.cancel(session, principal, project, step, body.reason)
    return await _one(session, principal, project_id, step_id)


@router.post(
    "/projects/{project_id}/steps/{step_id}/records",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordOut,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["projects"],
    summary="Record a contact or a document handed over for a step",
)
async def add_record(
    project_id: uuid.UUID, step_id: uuid.UUID, body: RecordIn, request: Request,
    response: Response, session: SessionDep, principal: CurrentPrincipal,
) -> RecordOut:  # fmt: skip
    """The agent's record of a contact made (`contact`) or a document handed over
    (`document`) for a dispatched step: kept on the step's card, so its department sees it, and
    in the case history. project.record; `Location` is the plan."""
    authorize(principal, "project.record")
    project = await project_service.load(session, principal, project_id, for_update=True)
    step = await agency_service.step(session, project, step_id)
    note = await agency_service.record(session, principal, project, step, body)
    set_location(response, request, "list_steps", project_id=project_id)
    return RecordOut.model_validate(note)


async def _one(
    session: SessionDep, principal: CurrentPrincipal, project_id: uuid.UUID, step_id: uuid.UUID
) -> StepOut:
    return next(s for s in await _timeline(session, principal, project_id) if s.id == step_id)


class _Plan(RootModel[list[StepOut]]):
    pass


# --- blockers ----------------------------------------------------------------------------------


@router.get(
    "/projects/{project_id}/blockers",
    response_model=list[BlockerOut],
    responses=error_responses(401, 403, 404, 422),
    tags=["projects"],
    summary="Problems raised from a project and where their cases stand",
)
async def list_blockers(
    project_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> list[BlockerOut]:
    """Every blocker raised from the project, oldest first, with its case's status once
    routing has it (project.read)."""
    authorize(principal, "project.read")
    project = await project_service.load(session, principal, project_id)
    return await agency_service.blockers(session, project)


@router.post(
    "/projects/{project_id}/blockers",
    status_code=status.HTTP_201_CREATED,
    response_model=BlockerCreatedOut,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    tags=["projects"],
    summary="Raise a problem met on the way as a request (用地指标、电力容量…)",
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def raise_blocker(
    project_id: uuid.UUID,
    body: BlockerIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    """A problem the project met (land quota, power capacity…) becomes the enterprise's request
    through intake on the 帮办代办 channel, so it is verified, supervised and rated like any
    other; its case links back to the project. Answers the request's tracking number and
    secret (hand them to the enterprise). project.blocker; accepts `Idempotency-Key` (a retry
    gets the same request); 503 when intake is unavailable."""
    authorize(principal, "project.blocker")
    project = await project_service.load(session, principal, project_id, for_update=True)
    key = read_key(request, principal.actor[:64], body.model_dump(mode="json"))
    # The same key reaches intake, so a retry after a lost answer finds the same request.
    intake_key = f"{project.id}:{key.key if key else uuid.uuid4()}"

    async def produce() -> BlockerCreatedOut:
        blocker, secret = await agency_service.raise_blocker(
            session, request.app.state.http, principal, project, body, intake_key
        )
        out = agency_service.blocker_out(blocker, None, None)
        return BlockerCreatedOut(**out.model_dump(), tracking_secret=secret)

    answer = await respond_idempotently(request, session, IdempotencyRecord, client_id=principal.actor[:64],
                                        body=body.model_dump(mode="json"), produce=produce,
                                        status_code=status.HTTP_201_CREATED)  # fmt: skip
    answer.headers["Location"] = str(request.url_for("list_blockers", project_id=project_id).path)
    return answer


# --- the enterprise's view, and its secret -----------------------------------------------------


@router.post(
    "/projects/{project_id}/tracking-secret",
    response_model=TrackingSecretOut,
    responses=error_responses(401, 403, 404, 422),
    tags=["projects"],
    summary="Issue a new tracking secret for the enterprise",
)
async def reissue_tracking_secret(
    project_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> TrackingSecretOut:
    """A new secret (shown only here) for an enterprise that lost its own; the old one stops
    working. project.update; recorded in the project's history."""
    authorize(principal, "project.update")
    project, secret = await project_service.new_secret(session, principal, project_id)
    return TrackingSecretOut(tracking_no=project.tracking_no, tracking_secret=secret)


@router.get(
    "/projects/tracking/{project_no}",
    response_model=ProjectProgressOut,
    responses=error_responses(401, 403, 404, 422),
    tags=["projects"],
    summary="A project's progress as its enterprise sees it (for intake)",
)
async def track_project(
    project_no: TrackingNo,
    session: SessionDep,
    principal: CurrentPrincipal,
    x_tracking_secret: Annotated[str | None, Depends(_tracking_secret)],
) -> ProjectProgressOut:
    """The enterprise's view of its project (stage, steps with their departments and due
    dates, blockers, the milestones it may rate), if `X-Tracking-Secret` is the project's: the
    same 404 otherwise. For the intake service only (project.track), which relays it to the
    enterprise with its own rate limits."""
    authorize(principal, "project.track")
    secret = x_tracking_secret if x_tracking_secret and len(x_tracking_secret) <= 128 else None
    return await agency_service.progress(session, project_no.upper(), secret)
