"""Projects (帮办代办 · 重点项目) and the procedure catalogue (事项目录).

A project moves planned → signed → started → continuing → completed one stage at a time; it may
be paused (and resumes to the stage it left) or terminated, both with a reason; completed and
terminated are final. Every change is an event of the project's own hash chain
(``routing_service.project.history``). The catalogue's prerequisites are kept acyclic, so the
agency plan (steps as cards, a later slice) can always order a project's steps.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from routing_service.department.repository import OrgUnitRepository, StaffUserRepository
from routing_service.department.service import CENTER_KINDS
from routing_service.models import Card, OrgUnit, Procedure, Project, ProjectStep, StaffUser
from routing_service.project import history
from routing_service.project.agency import agency_service
from routing_service.project.exceptions import (
    AgentInvalid,
    AreaUnitInvalid,
    CenterUnitInvalid,
    InvalidProcedureDocument,
    InvalidStageTransition,
    PrerequisiteCycle,
    ProcedureCodeTaken,
    ProcedureNotFound,
    ProjectNotFound,
    ResponsibleUnitInvalid,
    StageDatesOutOfOrder,
    StageFinal,
    StageReasonRequired,
    UnknownPrerequisite,
)
from routing_service.project.repository import (
    ProcedureRepository,
    ProjectRepository,
    is_active_department,
    responsible_department,
)
from routing_service.project.schemas import (
    PROGRESS,
    ContactOut,
    ProcedureDocument,
    ProcedureImportReport,
    ProcedureIn,
    ProcedureOut,
    ProcedurePatch,
    ProjectFilters,
    ProjectIn,
    ProjectOut,
    ProjectPatch,
    StageDatesIn,
    StageDatesOut,
    StageIn,
)
from services.auth import Principal
from services.errors import Forbidden
from services.models import utcnow
from services.outbox import add_event
from services.pagination import Key, Keyset
from services.policy import CENTER_ROLES, is_department, list_scope, project_in_scope
from services.tracking import hash_secret, new_tracking_no, new_tracking_secret
from shared.calendar import SHANGHAI
from shared.enums import CardStatus, ProjectLevel, ProjectStage
from shared.events import ProjectSnapshot, StageDates

__all__ = [
    "PROJECT_ORDER",
    "CatalogueService",
    "ProjectService",
    "catalogue_service",
    "find_cycle",
    "project_service",
]

# Newest first; the id breaks ties.
PROJECT_ORDER = Keyset(
    (Key(Project.created_at, "datetime", descending=True), Key(Project.id, "uuid", descending=True))
)
_FINAL = frozenset({ProjectStage.completed, ProjectStage.terminated})
_WITH_REASON = frozenset({ProjectStage.paused, ProjectStage.terminated})


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of ``graph`` (code → prerequisite codes) as the codes along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


# --- the procedure catalogue ------------------------------------------------------------------


class CatalogueService:
    async def procedures(
        self, session: AsyncSession, active: bool | None = None
    ) -> list[ProcedureOut]:
        procedures = list((await ProcedureRepository(session).all()).values())
        if active is not None:
            procedures = [p for p in procedures if p.active is active]
        return await self.out(session, procedures)

    async def out(
        self, session: AsyncSession, procedures: Sequence[Procedure]
    ) -> list[ProcedureOut]:
        units = await ProjectRepository(session).units([p.unit_id for p in procedures])
        return [
            ProcedureOut(
                id=p.id,
                code=p.code,
                name=p.name,
                unit_code=units[p.unit_id].code if p.unit_id else None,
                unit_name=units[p.unit_id].name if p.unit_id else None,
                time_limit_days=p.time_limit_days,
                prerequisites=list(p.prerequisites),
                active=p.active,
                created_at=p.created_at,
                updated_at=p.updated_at,
            )  # fmt: skip
            for p in procedures
        ]

    async def _unit_id(self, session: AsyncSession, code: str | None) -> uuid.UUID | None:
        return None if code is None else (await responsible_department(session, code)).id

    @staticmethod
    def _check_graph(graph: dict[str, list[str]], changed: str) -> None:
        unknown = sorted(set(graph[changed]) - graph.keys())
        if unknown:
            raise UnknownPrerequisite(details={"code": changed, "unknown": unknown})
        cycle = find_cycle(graph)
        if cycle is not None:
            raise PrerequisiteCycle(details={"cycle": cycle})

    async def create(self, session: AsyncSession, body: ProcedureIn) -> Procedure:
        existing = await ProcedureRepository(session).all()
        if body.code in existing:
            raise ProcedureCodeTaken(details={"code": body.code})
        graph = {code: list(p.prerequisites) for code, p in existing.items()}
        graph[body.code] = list(dict.fromkeys(body.prerequisites))
        self._check_graph(graph, body.code)
        now = utcnow()
        procedure = Procedure(
            code=body.code, name=body.name, unit_id=await self._unit_id(session, body.unit_code),
            time_limit_days=body.time_limit_days, prerequisites=graph[body.code],
            active=body.active, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(procedure)
        await session.flush()
        return procedure

    async def patch(self, session: AsyncSession, code: str, body: ProcedurePatch) -> Procedure:
        repo = ProcedureRepository(session)
        procedure = await repo.get_by_code(code, for_update=True)
        if procedure is None:
            raise ProcedureNotFound(details={"code": code})
        fields = body.model_fields_set
        if "prerequisites" in fields and body.prerequisites is not None:
            graph = {c: list(p.prerequisites) for c, p in (await repo.all()).items()}
            graph[code] = list(dict.fromkeys(body.prerequisites))
            self._check_graph(graph, code)
            procedure.prerequisites = graph[code]
        if "unit_code" in fields:  # null clears the responsible unit
            procedure.unit_id = await self._unit_id(session, body.unit_code)
        if body.name is not None:
            procedure.name = body.name
        if body.time_limit_days is not None:
            procedure.time_limit_days = body.time_limit_days
        if body.active is not None:
            procedure.active = body.active
        procedure.updated_at = utcnow()
        await session.flush()
        return procedure

    async def import_document(
        self, session: AsyncSession, doc: ProcedureDocument, *, seed: bool = False
    ) -> ProcedureImportReport:
        """Upsert the document's procedures by code, all or nothing: every problem is reported
        with its location before anything is written. Procedures missing from the document are
        left alone. With ``seed`` (the packaged default) a responsible unit the org does not
        have is left null, and existing procedures are never changed."""
        existing = await ProcedureRepository(session).all()
        units = await OrgUnitRepository.from_session(session).get_by_codes(
            {p.unit_code for p in doc.procedures if p.unit_code}
        )
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        unit_ids: dict[str, uuid.UUID | None] = {}
        for index, item in enumerate(doc.procedures):
            loc = f"procedures[{index}]"
            if item.code in seen:
                errors.append(_problem(f"{loc}.code", "duplicate_code", "文件中事项编码重复",
                                       f"Procedure {item.code} appears twice"))  # fmt: skip
            seen.add(item.code)
            unit = units.get(item.unit_code) if item.unit_code else None
            usable = is_active_department(unit)
            if item.unit_code and not usable and not seed:
                errors.append(_problem(f"{loc}.unit_code", ResponsibleUnitInvalid.code,
                                       ResponsibleUnitInvalid.message,
                                       f"{ResponsibleUnitInvalid.message_en}: {item.unit_code}"))  # fmt: skip
            unit_ids[item.code] = unit.id if unit is not None and usable else None
        graph = {code: list(p.prerequisites) for code, p in existing.items()}
        if not seed:
            graph.update({p.code: list(dict.fromkeys(p.prerequisites)) for p in doc.procedures})
        else:
            for p in doc.procedures:
                graph.setdefault(p.code, list(dict.fromkeys(p.prerequisites)))
        for index, item in enumerate(doc.procedures):
            unknown = sorted(set(item.prerequisites) - graph.keys())
            if unknown:
                errors.append(_problem(f"procedures[{index}].prerequisites", UnknownPrerequisite.code,
                                       f"{UnknownPrerequisite.message}:{'、'.join(unknown)}",
                                       f"{UnknownPrerequisite.message_en}: {', '.join(unknown)}"))  # fmt: skip
        cycle = find_cycle(graph)
        if cycle is not None:
            errors.append(_problem("procedures", PrerequisiteCycle.code,
                                   f"{PrerequisiteCycle.message}:{' → '.join(cycle)}",
                                   f"{PrerequisiteCycle.message_en}: {' → '.join(cycle)}"))  # fmt: skip
        if errors:
            raise InvalidProcedureDocument(details=errors)

        report = ProcedureImportReport(created=0, updated=0, unchanged=0)
        now = utcnow()
        for item in doc.procedures:
            found = existing.get(item.code)
            values = {
                "name": item.name, "unit_id": unit_ids[item.code],
                "time_limit_days": item.time_limit_days,
                "prerequisites": list(dict.fromkeys(item.prerequisites)), "active": item.active,
            }  # fmt: skip
            if found is None:
                session.add(Procedure(code=item.code, created_at=now, updated_at=now, **values))
                report.created += 1
            elif seed or all(getattr(found, k) == v for k, v in values.items()):
                report.unchanged += 1
            else:
                for key, value in values.items():
                    setattr(found, key, value)
                found.updated_at = now
                report.updated += 1
        await session.flush()
        return report

    async def seed(self, session: AsyncSession) -> ProcedureImportReport:
        """Add the packaged default catalogue's missing procedures (never changes existing
        ones); responsible units the org does not have stay null until an admin names them."""
        return await self.import_document(session, seed_document(), seed=True)


def seed_document() -> ProcedureDocument:
    raw = (resources.files("routing_service") / "seed" / "procedures.yaml").read_text("utf-8")
    return ProcedureDocument.model_validate(yaml.safe_load(raw))


def parse_procedure_document(data: Any) -> ProcedureDocument:
    try:
        return ProcedureDocument.model_validate(data)
    except ValidationError as exc:
        raise InvalidProcedureDocument(
            details=[
                _problem(".".join(str(p) for p in e["loc"]), e["type"], e["msg"], e["msg"])
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from None


def _problem(loc: str, code: str, message: str, message_en: str) -> dict[str, str]:
    return {"loc": loc, "code": code, "message": message, "message_en": message_en}


# --- projects ---------------------------------------------------------------------------------


def _dates_in(dates: Mapping[ProjectStage, StageDatesIn]) -> dict[str, dict[str, str | None]]:
    return {
        stage.value: {
            "planned": d.planned.isoformat() if d.planned else None,
            "actual": d.actual.isoformat() if d.actual else None,
        }
        for stage, d in dates.items()
    }


def _check_dates(dates: Mapping[str, Mapping[str, str | None]]) -> None:
    """Actual dates follow the order of the stages (a stage is not reached before the one
    before it)."""
    last: tuple[str, str] | None = None
    for stage in PROGRESS:
        actual = (dates.get(stage.value) or {}).get("actual")
        if actual is None:
            continue
        if last is not None and actual < last[1]:
            raise StageDatesOutOfOrder(details={last[0]: last[1], stage.value: actual})
        last = (stage.value, actual)


class ProjectService:
    async def _area(self, session: AsyncSession, code: str) -> OrgUnit:
        unit = await OrgUnitRepository.from_session(session).get_by_code(code)
        if unit is None or not unit.active:
            raise AreaUnitInvalid(details={"area_unit_code": code})
        return unit

    async def _center(self, session: AsyncSession, code: str) -> OrgUnit:
        unit = await OrgUnitRepository.from_session(session).get_by_code(code)
        if unit is None or not unit.active or unit.kind not in CENTER_KINDS:
            raise CenterUnitInvalid(details={"center_unit_code": code})
        return unit

    async def _agent(self, session: AsyncSession, username: str) -> StaffUser:
        found = await StaffUserRepository.from_session(session).get_by_username(username)
        if found is None or not found[0].active or found[0].role not in CENTER_ROLES:
            raise AgentInvalid(details={"agent": username})
        return found[0]

    @staticmethod
    def _may_act(principal: Principal, project: Project, units: Mapping[uuid.UUID, OrgUnit],
                 agent: StaffUser | None) -> bool:  # fmt: skip
        paths = [units[project.area_unit_id].path, units[project.center_unit_id].path]
        return project_in_scope(principal, paths, agent.username if agent else None)

    async def create(
        self, session: AsyncSession, principal: Principal, body: ProjectIn
    ) -> tuple[Project, str]:
        """The new project and its tracking secret (shown once)."""
        area = await self._area(session, body.area_unit_code)
        center = await self._center(session, body.center_unit_code or area.code)
        if not project_in_scope(principal, [area.path, center.path]):
            raise Forbidden(
                "只能登记本辖区的项目", "You may register projects of your own area only",
                code="project_out_of_scope",
            )  # fmt: skip
        agent = await self._agent(session, body.agent) if body.agent else None
        dates = _dates_in(body.stage_dates)
        if body.stage != ProjectStage.planned:
            # Taken on at a later stage: that stage is reached (today unless dated).
            entry = dates.setdefault(body.stage.value, {"planned": None, "actual": None})
            entry["actual"] = entry["actual"] or _today().isoformat()
        _check_dates(dates)
        now = utcnow()
        secret = new_tracking_secret()
        project = Project(
            id=uuid.uuid4(), name=body.name, enterprise_name=body.enterprise_name,
            tracking_no=new_tracking_no("XM"), tracking_secret_hash=hash_secret(secret),
            uscc=body.uscc, investment=body.investment, industry=body.industry,
            area_unit_id=area.id, center_unit_id=center.id, level=body.level.value,
            stage=body.stage.value, agent_id=agent.id if agent else None,
            contact_name=body.contact.name if body.contact else None,
            contact_phone=body.contact.phone if body.contact else None,
            stage_dates=dates, created_by=principal.actor, created_at=now, updated_at=now,
            history_seq=0,
        )  # fmt: skip
        session.add(project)
        await session.flush()
        history.record(
            session, project, actor=principal.actor, action="created", to_status=project.stage,
            data={"area": area.code, "center": center.code, "level": project.level,
                  "agent": agent.username if agent else None},
            at=now,
        )  # fmt: skip
        await self.snapshot(session, project)
        await session.flush()
        return project, secret

    async def new_secret(
        self, session: AsyncSession, principal: Principal, project_id: uuid.UUID
    ) -> tuple[Project, str]:
        """A new tracking secret for the enterprise (the old one stops working)."""
        project = await self.load(session, principal, project_id, for_update=True)
        secret = new_tracking_secret()
        project.tracking_secret_hash = hash_secret(secret)
        history.record(session, project, actor=principal.actor, action="tracking_secret.reissue")
        await session.flush()
        return project, secret

    async def snapshot(self, session: AsyncSession, project: Project) -> None:
        """Tell scoring the project's facts (statistics, the enterprise's rating)."""
        project.revision += 1
        units = await ProjectRepository(session).units(
            [project.area_unit_id, project.center_unit_id]
        )
        area, center = units[project.area_unit_id], units[project.center_unit_id]
        add_event(
            session,
            ProjectSnapshot(
                project_id=project.id, revision=project.revision, tracking_no=project.tracking_no,
                name=project.name, enterprise_name=project.enterprise_name, uscc=project.uscc,
                investment=str(project.investment), industry=project.industry,
                level=ProjectLevel(project.level), stage=ProjectStage(project.stage),
                area_unit_code=area.code, area_unit_path=area.path,
                center_unit_code=center.code, center_unit_path=center.path,
                stage_dates={ProjectStage(k): StageDates.model_validate(v or {})
                             for k, v in project.stage_dates.items()},
                created_at=project.created_at,
            ),
        )  # fmt: skip

    async def load(
        self, session: AsyncSession, principal: Principal, project_id: uuid.UUID,
        *, for_update: bool = False,
    ) -> Project:  # fmt: skip
        """The project if the caller may see it; a not-found otherwise (existence hidden)."""
        repo = ProjectRepository(session)
        project = await repo.get(project_id, for_update=for_update)
        if project is None:
            raise ProjectNotFound()
        units = await repo.units([project.area_unit_id, project.center_unit_id])
        agents = await repo.staff([project.agent_id])
        agent = agents.get(project.agent_id) if project.agent_id else None
        if not self._may_act(principal, project, units, agent) and not (
            is_department(principal)
            and await agency_service.holds_step(session, principal, project.id)
        ):
            raise ProjectNotFound()
        return project

    async def patch(
        self, session: AsyncSession, principal: Principal, project_id: uuid.UUID, body: ProjectPatch
    ) -> Project:
        project = await self.load(session, principal, project_id, for_update=True)
        changed: dict[str, Any] = {}
        if body.area_unit_code is not None:
            area = await self._area(session, body.area_unit_code)
            project.area_unit_id, changed["area"] = area.id, area.code
        if body.center_unit_code is not None:
            center = await self._center(session, body.center_unit_code)
            project.center_unit_id, changed["center"] = center.id, center.code
        if "area" in changed or "center" in changed:
            units = await ProjectRepository(session).units(
                [project.area_unit_id, project.center_unit_id]
            )
            paths = [units[project.area_unit_id].path, units[project.center_unit_id].path]
            if not project_in_scope(principal, paths):
                raise Forbidden(
                    "不能把项目移出本辖区", "You may not move a project out of your area",
                    code="project_out_of_scope",
                )  # fmt: skip
        if body.agent is not None:
            agent = await self._agent(session, body.agent)
            project.agent_id, changed["agent"] = agent.id, agent.username
        for name in ("name", "enterprise_name", "uscc", "industry"):
            value = getattr(body, name)
            if value is not None and value != getattr(project, name):
                setattr(project, name, value)
                changed[name] = value
        if body.investment is not None and body.investment != project.investment:
            project.investment, changed["investment"] = body.investment, str(body.investment)
        if body.level is not None and body.level.value != project.level:
            project.level, changed["level"] = body.level.value, body.level.value
        if body.contact is not None:
            project.contact_name, project.contact_phone = body.contact.name, body.contact.phone
            changed["contact"] = True  # the contact's details stay out of the audit chain
        if body.stage_dates is not None:
            dates = {**project.stage_dates, **_dates_in(body.stage_dates)}
            _check_dates(dates)
            project.stage_dates, changed["stage_dates"] = dates, _dates_in(body.stage_dates)
        if changed:
            now = utcnow()
            project.updated_at = now
            history.record(session, project, actor=principal.actor, action="updated",
                           data=changed, at=now)  # fmt: skip
            await self.snapshot(session, project)
        await session.flush()
        return project

    async def stage(
        self, session: AsyncSession, principal: Principal, project_id: uuid.UUID, body: StageIn
    ) -> Project:
        project = await self.load(session, principal, project_id, for_update=True)
        current, target = ProjectStage(project.stage), body.stage
        refused = {"from": current.value, "to": target.value}
        if current in _FINAL:
            raise StageFinal(details=refused)
        if target in _WITH_REASON and not body.reason:
            raise StageReasonRequired(details=refused)
        data: dict[str, Any] = {}
        if target == ProjectStage.terminated or (
            target == ProjectStage.paused and current != ProjectStage.paused
        ):
            if target == ProjectStage.paused:
                project.paused_from = current.value
            project.stage_reason = body.reason
        elif current == ProjectStage.paused:
            if target.value != project.paused_from:
                raise InvalidStageTransition(details={**refused, "resumes_to": project.paused_from})
            project.paused_from, project.stage_reason = None, None
            data["resumed"] = True
        else:
            position = PROGRESS.index(current)
            if position + 1 >= len(PROGRESS) or PROGRESS[position + 1] != target:
                raise InvalidStageTransition(details=refused)
            on = (body.on or _today()).isoformat()
            entry = dict(project.stage_dates.get(target.value) or {"planned": None})
            entry["actual"] = on
            dates = {**project.stage_dates, target.value: entry}
            _check_dates(dates)
            project.stage_dates, data["on"] = dates, on
        project.stage = target.value
        now = utcnow()
        project.updated_at = now
        history.record(session, project, actor=principal.actor, action="stage",
                       from_status=current.value, to_status=target.value, reason=body.reason,
                       data=data, at=now)  # fmt: skip
        if target in _FINAL:
            await agency_service.close_plan(
                session, principal, project, body.reason or f"项目{target.label_zh}"
            )
        await self.snapshot(session, project)
        await session.flush()
        return project

    async def list_statement(
        self, session: AsyncSession, principal: Principal, filters: ProjectFilters
    ) -> Select[Any]:
        area = aliased(OrgUnit)
        center = aliased(OrgUnit)
        stmt = (
            select(Project)
            .join(area, area.id == Project.area_unit_id)
            .join(center, center.id == Project.center_unit_id)
        )
        scope = list_scope(principal)
        if scope.own_unit_code is not None:
            # A department: the projects where it holds a step.
            held = (
                select(ProjectStep.id)
                .join(OrgUnit, OrgUnit.id == ProjectStep.unit_id)
                .where(ProjectStep.project_id == Project.id, OrgUnit.code == scope.own_unit_code)
            )
            stmt = stmt.where(held.exists())
        elif scope.subtree is not None:
            mine = select(StaffUser.id).where(StaffUser.username == principal.subject)
            stmt = stmt.where(
                or_(
                    area.path.startswith(scope.subtree, autoescape=True),
                    center.path.startswith(scope.subtree, autoescape=True),
                    Project.agent_id.in_(mine.scalar_subquery()),
                )
            )
        if filters.level:
            stmt = stmt.where(Project.level.in_([v.value for v in filters.level]))
        if filters.stage:
            stmt = stmt.where(Project.stage.in_([v.value for v in filters.stage]))
        if filters.uscc:
            stmt = stmt.where(Project.uscc == filters.uscc)
        if filters.area:
            unit = await OrgUnitRepository.from_session(session).get_by_code(filters.area)
            if unit is None:
                stmt = stmt.where(false())
            else:
                stmt = stmt.where(area.path.startswith(unit.path, autoescape=True))
        if filters.agent:
            agent = select(StaffUser.id).where(StaffUser.username == filters.agent)
            stmt = stmt.where(Project.agent_id.in_(agent.scalar_subquery()))
        if filters.overdue is not None:
            # A step's card past its deadline and still open (the cards' partial index).
            late = select(Card.id).where(
                Card.project_id == Project.id,
                Card.status.in_((CardStatus.dispatched.value, CardStatus.signed.value)),
                Card.due_at < utcnow(),
            )
            stmt = stmt.where(late.exists() if filters.overdue else ~late.exists())
        return stmt

    async def out(self, session: AsyncSession, projects: Sequence[Project]) -> list[ProjectOut]:
        repo = ProjectRepository(session)
        units = await repo.units(
            [p.area_unit_id for p in projects] + [p.center_unit_id for p in projects]
        )
        agents = await repo.staff([p.agent_id for p in projects])
        return [self._out(p, units, agents) for p in projects]

    @staticmethod
    def _out(
        p: Project, units: Mapping[uuid.UUID, OrgUnit], agents: Mapping[uuid.UUID, StaffUser]
    ) -> ProjectOut:
        agent = agents.get(p.agent_id) if p.agent_id else None
        level, stage = ProjectLevel(p.level), ProjectStage(p.stage)
        return ProjectOut(
            id=p.id, name=p.name, tracking_no=p.tracking_no, enterprise_name=p.enterprise_name,
            uscc=p.uscc,
            investment=p.investment, industry=p.industry,
            area_unit_code=units[p.area_unit_id].code, area_unit_name=units[p.area_unit_id].name,
            center_unit_code=units[p.center_unit_id].code,
            center_unit_name=units[p.center_unit_id].name,
            level=level, level_label=level.label_zh, stage=stage, stage_label=stage.label_zh,
            paused_from=ProjectStage(p.paused_from) if p.paused_from else None,
            stage_reason=p.stage_reason,
            agent=agent.username if agent else None,
            agent_name=agent.display_name if agent else None,
            contact=ContactOut(name=p.contact_name, phone=p.contact_phone),
            stage_dates={
                ProjectStage(s): StageDatesOut(planned=d.get("planned"), actual=d.get("actual"))
                for s, d in p.stage_dates.items()
            },
            created_by=p.created_by, created_at=p.created_at, updated_at=p.updated_at,
        )  # fmt: skip


catalogue_service = CatalogueService()
project_service = ProjectService()
