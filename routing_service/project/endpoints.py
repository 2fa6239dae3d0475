"""Projects (帮办代办 · 重点项目) at ``/v1/projects`` and the procedure catalogue (事项目录) at
``/v1/procedures``. One enterprise's projects are the list filtered by ``uscc=``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from routing_service.auth import CurrentPrincipal
from routing_service.project import history
from routing_service.project.exceptions import ProcedureNotFound
from routing_service.project.repository import ProcedureRepository
from routing_service.project.schemas import (
    ProcedureCode,
    ProcedureDocument,
    ProcedureFilters,
    ProcedureImportReport,
    ProcedureIn,
    ProcedureOut,
    ProcedurePatch,
    ProjectChainCheckOut,
    ProjectDetailOut,
    ProjectEventOut,
    ProjectFilters,
    ProjectIn,
    ProjectOut,
    ProjectPatch,
    StageIn,
)
from routing_service.project.service import PROJECT_ORDER, catalogue_service, project_service
from services.db import SessionDep
from services.errors import error_responses
from services.pagination import query_fingerprint, read_page
from services.policy import authorize
from services.responses import set_location
from shared.schemas.page import CursorPage

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
    response_model=ProjectOut,
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
) -> ProjectOut:
    """Register an enterprise's investment project (project.create) in the caller's area: its
    area must be an active unit, its responsible center an active center (by default the area
    unit), its agent an active center staff member. Answers 201 with `Location`."""
    authorize(principal, "project.create")
    created = await project_service.create(session, principal, body)
    set_location(response, request, "get_project", project_id=created.id)
    return (await project_service.out(session, [created]))[0]


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
