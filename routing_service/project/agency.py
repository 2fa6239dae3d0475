"""The agency plan of a project (代办事项): each step is a card of the project's agency case.

A project's steps live on one case of its own (``case.project_role == "plan"``), so a step has
exactly what a case's card has — working-day deadline, the supervision ladder, webhooks to the
department, signing, extension, return, completion and the center's review — through the same
code (``routing_service.assignment``). What is the plan's own: which step may start. A step
waits until the steps of the plan it depends on (the catalogue's prerequisites, within the plan)
are done or dropped; prerequisites outside the plan count as done already (the enterprise had
them before the agency began). A step done on the spot (当场办结) is a card created approved.

Two hooks come back here from the card code: a step's card approved (``step_done``: the next
steps are dispatched) and a step's card returned by its department (``step_returned``: the step
waits at the center to be sent again; the rest of the plan carries on).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts as case_facts
from routing_service.assignment import history as case_history
from routing_service.assignment.service import case_service
from routing_service.deadline.calendar import calendar_provider
from routing_service.models import (
    Card,
    CardNote,
    Case,
    OrgUnit,
    Project,
    ProjectBlocker,
    ProjectStep,
)
from routing_service.project import history
from routing_service.project.exceptions import (
    PrerequisitesPending,
    ProjectContactMissing,
    ProjectNotActive,
    ProjectNotFound,
    ResponsibleUnitInvalid,
    StepExists,
    StepLimitExceedsLegal,
    StepNotFound,
    StepProcedureInvalid,
    StepStateInvalid,
    StepUnitMissing,
)
from routing_service.project.repository import (
    ProcedureRepository,
    ProjectRepository,
    is_active_department,
    responsible_department,
)
from routing_service.project.schemas import (
    BlockerIn,
    BlockerOut,
    PlanIn,
    RecordIn,
    RecordOut,
    RedispatchIn,
    StepCardOut,
    StepIn,
    StepOut,
)
from services.auth import Principal, service_token
from services.errors import ServiceError, ServiceUnavailable
from services.models import utcnow
from services.policy import in_scope, is_department, sees_everything
from services.settings import common_settings
from services.tracking import secret_matches
from shared.enums import (
    CardRole,
    CardStatus,
    CaseStatus,
    Channel,
    Classification,
    ProjectLevel,
    ProjectMilestone,
    ProjectStage,
    RequestType,
    StepStatus,
    SubmitterKind,
    SupervisionLevel,
    Topic,
    Urgency,
)
from shared.schemas.project import (
    ProjectBlockerProgress,
    ProjectProgressOut,
    ProjectStepProgress,
    StageDatesView,
)

__all__ = ["AgencyService", "agency_service"]

SYSTEM = "system"
_ACTIVE = frozenset(
    {ProjectStage.planned, ProjectStage.signed, ProjectStage.started, ProjectStage.continuing}
)
# A prerequisite no longer holds a step back once done, or dropped from the plan.
_SETTLED = frozenset({StepStatus.done.value, StepStatus.cancelled.value})
_OPEN_CARD = (CardStatus.dispatched.value, CardStatus.signed.value)
_RECORD_KINDS = {"contact": "agent_contact", "document": "document"}


def _in_order(items: Sequence[StepIn], prerequisites: Mapping[str, Iterable[str]]) -> list[StepIn]:
    """The plan's new steps with each one's prerequisites (among them) before it; the catalogue
    is acyclic, so this always succeeds."""
    by_code = {item.procedure_code: item for item in items}
    ordered: list[StepIn] = []
    seen: set[str] = set()

    def visit(code: str) -> None:
        if code in seen:
            return
        seen.add(code)
        for before in prerequisites.get(code, ()):
            if before in by_code:
                visit(before)
        ordered.append(by_code[code])

    for item in items:
        visit(item.procedure_code)
    return ordered


class AgencyService:
    # ------------------------------------------------------------------ the plan

    async def plan(
        self, session: AsyncSession, principal: Principal, project: Project, body: PlanIn
    ) -> list[ProjectStep]:
        """Add steps to the plan, all or nothing: every step is checked before anything is
        written. Returns the new steps in plan order."""
        if ProjectStage(project.stage) not in _ACTIVE:
            raise ProjectNotActive(details={"stage": project.stage})
        catalogue = await ProcedureRepository(session).all()
        steps = await self._steps(session, project.id)
        live = {s.procedure_code: s for s in steps if s.status != StepStatus.cancelled.value}
        codes = [item.procedure_code for item in body.steps]
        for item in body.steps:
            procedure = catalogue.get(item.procedure_code)
            if procedure is None or not procedure.active:
                raise StepProcedureInvalid(details={"procedure_code": item.procedure_code})
            if item.procedure_code in live or codes.count(item.procedure_code) > 1:
                raise StepExists(details={"procedure_code": item.procedure_code})
            limit = item.limit_days or procedure.time_limit_days
            if limit > procedure.time_limit_days:
                raise StepLimitExceedsLegal(
                    details={"procedure_code": item.procedure_code, "legal_limit_days": procedure.time_limit_days}
                )  # fmt: skip
        units = await self._units(session, body.steps, catalogue)
        in_plan = set(live) | set(codes)

        def needs(code: str) -> list[str]:
            return [c for c in catalogue[code].prerequisites if c in in_plan]

        settled = {code for code, s in live.items() if s.status in _SETTLED}
        ordered = _in_order(body.steps, {code: needs(code) for code in codes})
        for item in ordered:
            if item.on_spot:
                pending = [c for c in needs(item.procedure_code) if c not in settled]
                if pending:
                    raise PrerequisitesPending(
                        details={"procedure_code": item.procedure_code, "waiting_for": pending}
                    )
                settled.add(item.procedure_code)

        # Checked: write.
        case = await self._agency_case(session, principal, project)
        calendar = await calendar_provider.get(session)
        now = utcnow()
        position = max((s.position for s in steps), default=-1) + 1
        for waiting in steps:  # a new step may be a prerequisite of one already waiting
            if waiting.status == StepStatus.waiting.value:
                waiting.prerequisites = needs(waiting.procedure_code)
        created: list[ProjectStep] = []
        for offset, item in enumerate(ordered):
            procedure = catalogue[item.procedure_code]
            step = ProjectStep(
                id=uuid.uuid4(), project_id=project.id, procedure_code=procedure.code,
                name=procedure.name, unit_id=units[item.procedure_code].id,
                limit_days=item.limit_days or procedure.time_limit_days,
                legal_limit_days=procedure.time_limit_days,
                prerequisites=needs(procedure.code), instructions=item.instructions,
                position=position + offset, status=StepStatus.waiting.value, on_spot=item.on_spot,
                created_by=principal.actor, created_at=now,
            )  # fmt: skip
            session.add(step)
            created.append(step)
        await session.flush()
        for step, item in zip(created, ordered, strict=True):
            if item.on_spot:
                self._done_on_spot(session, calendar, case, project, step,
                                   units[step.procedure_code], principal.actor, item.result, now)  # fmt: skip
        history.record(
            session, project, actor=principal.actor, action="plan",
            data={"steps": [s.procedure_code for s in created],
                  "on_spot": [s.procedure_code for s in created if s.on_spot]},
            at=now,
        )  # fmt: skip
        await self._advance(session, calendar, case, project, principal.actor, now)
        await session.flush()
        return created

    async def redispatch(
        self, session: AsyncSession, principal: Principal, project: Project,
        step: ProjectStep, body: RedispatchIn,
    ) -> ProjectStep:  # fmt: skip
        """Send a returned step again, to the same department or another."""
        if ProjectStage(project.stage) not in _ACTIVE:
            raise ProjectNotActive(details={"stage": project.stage})
        if step.status != StepStatus.returned.value:
            raise StepStateInvalid(details={"status": step.status})
        if body.unit_code is not None:
            unit = await responsible_department(session, body.unit_code)
            step.unit_id = unit.id
        if body.instructions is not None:
            step.instructions = body.instructions
        case = await self._agency_case(session, principal, project)
        calendar = await calendar_provider.get(session)
        now = utcnow()
        unit = await self._unit(session, step.unit_id)
        await self._dispatch(session, calendar, case, project, step, unit, principal.actor, now)
        history.record(session, project, actor=principal.actor, action="step.redispatch",
                       data={"step": step.procedure_code, "unit": unit.code}, at=now)  # fmt: skip
        await session.flush()
        return step

    async def cancel(
        self, session: AsyncSession, principal: Principal, project: Project,
        step: ProjectStep, reason: str,
    ) -> ProjectStep:  # fmt: skip
        """Drop a step from the plan (its open card is cancelled); steps that waited on it may
        start."""
        if step.status in _SETTLED:
            raise StepStateInvalid(details={"status": step.status})
        case = await self._agency_case(session, principal, project)
        now = utcnow()
        await self._cancel_step(session, case, step, reason, principal.actor)
        history.record(session, project, actor=principal.actor, action="step.cancel",
                       reason=reason, data={"step": step.procedure_code}, at=now)  # fmt: skip
        if ProjectStage(project.stage) in _ACTIVE:
            calendar = await calendar_provider.get(session)
            await self._advance(session, calendar, case, project, principal.actor, now)
        await session.flush()
        return step

    async def close_plan(
        self, session: AsyncSession, principal: Principal, project: Project, reason: str
    ) -> None:
        """The project is completed or terminated: open steps are cancelled, the case closed."""
        case = await self._find_case(session, project.id)
        if case is None:
            return
        await session.refresh(case, with_for_update=True)
        for step in await self._steps(session, project.id):
            if step.status not in _SETTLED:
                await self._cancel_step(session, case, step, reason, principal.actor)
        if case.status != CaseStatus.closed.value:
            before = case.status
            case.status = CaseStatus.closed.value
            case.closed_at = utcnow()
            case_history.record(session, case, actor=principal.actor, action="close",
                                from_status=before, to_status=case.status, reason=reason)  # fmt: skip

    async def record(
        self, session: AsyncSession, principal: Principal, project: Project,
        step: ProjectStep, body: RecordIn,
    ) -> CardNote:  # fmt: skip
        """The agent's record of a contact made or a document handed over, on the step's card
        (so the department sees it beside its own notes) and in the case's history."""
        if step.card_id is None:
            raise StepStateInvalid(
                "该事项尚未派单,暂不能记录", "The step is not dispatched yet", details={"status": step.status}
            )  # fmt: skip
        case = await self._agency_case(session, principal, project)
        kind = _RECORD_KINDS[body.kind]
        note = CardNote(id=uuid.uuid4(), card_id=step.card_id, kind=kind, text=body.text,
                        attachments=list(body.attachments), author=principal.actor, at=utcnow())  # fmt: skip
        session.add(note)
        case_history.record(session, case, actor=principal.actor, action=f"card.{kind}",
                            card_id=step.card_id, reason=body.text[:1000],
                            data={"attachments": len(body.attachments)})  # fmt: skip
        await session.flush()
        return note

    # ------------------------------------------------------------------ hooks from the cards

    async def _step_of(
        self, session: AsyncSession, case: Case, card: Card
    ) -> tuple[ProjectStep, Project] | None:
        """The step a card does and its project, both locked (None for an earlier card)."""
        step = await session.scalar(
            select(ProjectStep).where(ProjectStep.card_id == card.id).with_for_update()
        )
        if step is None or case.project_id is None:
            return None
        project = await ProjectRepository(session).get(case.project_id, for_update=True)
        assert project is not None
        return step, project

    async def step_done(self, session: AsyncSession, case: Case, card: Card) -> None:
        found = await self._step_of(session, case, card)
        if found is None:
            return
        step, project = found
        now = utcnow()
        step.status = StepStatus.done.value
        step.done_at = card.approved_at or now
        history.record(session, project, actor=SYSTEM, action="step.done",
                       data={"step": step.procedure_code, "on_time": card.submitted_at is not None
                             and card.submitted_at <= card.due_at}, at=now)  # fmt: skip
        if ProjectStage(project.stage) in _ACTIVE:
            calendar = await calendar_provider.get(session)
            await self._advance(session, calendar, case, project, SYSTEM, now)

    async def step_returned(
        self, session: AsyncSession, case: Case, card: Card, reason: str
    ) -> None:
        found = await self._step_of(session, case, card)
        if found is None:
            return
        step, project = found
        step.status = StepStatus.returned.value
        history.record(session, project, actor=SYSTEM, action="step.returned", reason=reason,
                       data={"step": step.procedure_code})  # fmt: skip

    # ------------------------------------------------------------------ reads

    async def timeline(
        self, session: AsyncSession, principal: Principal, project: Project
    ) -> list[StepOut]:
        """The plan in order, each step with its unit, deadline, state on the ladder and
        records. A department sees its own steps only."""
        steps = await self._steps(session, project.id)
        settled = {s.procedure_code for s in steps if s.status in _SETTLED}
        units = await ProjectRepository(session).units([s.unit_id for s in steps])
        if is_department(principal) and not sees_everything(principal):
            steps = [s for s in steps if in_scope(principal, units[s.unit_id].path)]
        cards = await self._cards(session, [s.card_id for s in steps])
        notes = await self._notes(session, list(cards))
        calendar = await calendar_provider.get(session)
        now = utcnow()
        out: list[StepOut] = []
        for step in steps:
            card = cards.get(step.card_id) if step.card_id else None
            used = None
            if step.status == StepStatus.done.value and card is not None:
                used = 0 if step.on_spot else calendar.working_days_between(
                    card.dispatched_at, card.submitted_at or card.approved_at or now
                )  # fmt: skip
            status = StepStatus(step.status)
            out.append(StepOut(
                id=step.id, procedure_code=step.procedure_code, legal_limit_days=step.legal_limit_days, name=step.name,
                unit_code=units[step.unit_id].code, unit_name=units[step.unit_id].name,
                limit_days=step.limit_days, prerequisites=list(step.prerequisites),
                waiting_for=[c for c in step.prerequisites if c not in settled],
                position=step.position, status=status, status_label=status.label_zh,
                on_spot=step.on_spot, instructions=step.instructions,
                dispatched_at=step.dispatched_at, done_at=step.done_at, working_days_used=used,
                cancel_reason=step.cancel_reason,
                card=self._card_out(card, now) if card is not None else None,
                records=[RecordOut.model_validate(n) for n in notes.get(step.card_id, [])]
                if step.card_id else [],
            ))  # fmt: skip
        return out

    @staticmethod
    def _card_out(card: Card, now: datetime) -> StepCardOut:
        status, level = CardStatus(card.status), SupervisionLevel(card.supervision_level)
        return StepCardOut(
            id=card.id, status=status, status_label=status.label_zh,
            sign_due_at=card.sign_due_at, signed_at=card.signed_at, due_at=card.due_at,
            due_provisional=card.due_provisional, submitted_at=card.submitted_at,
            approved_at=card.approved_at, supervision_level=level,
            supervision_label=level.label_zh,
            overdue=card.status in _OPEN_CARD and card.due_at < now,
        )  # fmt: skip

    async def step(
        self, session: AsyncSession, project: Project, step_id: uuid.UUID
    ) -> ProjectStep:
        step = await session.scalar(
            select(ProjectStep)
            .where(ProjectStep.id == step_id, ProjectStep.project_id == project.id)
            .with_for_update()
        )
        if step is None:
            raise StepNotFound()
        return step

    async def holds_step(
        self, session: AsyncSession, principal: Principal, project_id: uuid.UUID
    ) -> bool:
        """Whether a department holds a step of the project (so it may read the project)."""
        rows = await session.execute(
            select(OrgUnit.path)
            .join(ProjectStep, ProjectStep.unit_id == OrgUnit.id)
            .where(ProjectStep.project_id == project_id)
        )
        return any(in_scope(principal, path) for (path,) in rows)

    async def progress(
        self, session: AsyncSession, tracking_no: str, secret: str | None
    ) -> ProjectProgressOut:
        """What the enterprise sees, if the secret is the project's; the same not-found for an
        unknown number and a wrong secret."""
        project = await session.scalar(select(Project).where(Project.tracking_no == tracking_no))
        if project is None or not secret_matches(secret, project.tracking_secret_hash):
            raise ProjectNotFound()
        steps = await self._steps(session, project.id)
        repo = ProjectRepository(session)
        units = await repo.units([s.unit_id for s in steps] + [project.center_unit_id])
        agent = (
            (await repo.staff([project.agent_id])).get(project.agent_id)
            if project.agent_id
            else None
        )
        cards = await self._cards(session, [s.card_id for s in steps])
        blockers = (
            await session.scalars(
                select(ProjectBlocker)
                .where(ProjectBlocker.project_id == project.id)
                .order_by(ProjectBlocker.raised_at)
            )
        ).all()
        level, stage = project.level, ProjectStage(project.stage)
        reached = {s for s, d in project.stage_dates.items() if (d or {}).get("actual")}
        return ProjectProgressOut(
            tracking_no=project.tracking_no, name=project.name,
            enterprise_name=project.enterprise_name, level=ProjectLevel(level),
            level_label=ProjectLevel(level).label_zh, stage=stage, stage_label=stage.label_zh,
            stage_dates={ProjectStage(s): StageDatesView(planned=d.get("planned"), actual=d.get("actual"))
                         for s, d in project.stage_dates.items()},
            center_unit_name=units[project.center_unit_id].name,
            agent_name=agent.display_name if agent else None,
            steps=[self._step_progress(s, units[s.unit_id], cards.get(s.card_id) if s.card_id else None)
                   for s in steps],
            blockers=[ProjectBlockerProgress(tracking_no=b.tracking_no, title=b.title, raised_at=b.raised_at)
                      for b in blockers],
            ratable=[m for m in ProjectMilestone if m.value in reached],
        )  # fmt: skip

    @staticmethod
    def _step_progress(step: ProjectStep, unit: OrgUnit, card: Card | None) -> ProjectStepProgress:
        status = StepStatus(step.status)
        return ProjectStepProgress(
            procedure_code=step.procedure_code, name=step.name, unit_name=unit.name,
            status=status, status_label=status.label_zh, on_spot=step.on_spot,
            due_at=card.due_at if card is not None and status == StepStatus.in_progress else None,
            due_provisional=bool(card and card.due_provisional), done_at=step.done_at,
        )  # fmt: skip

    # ------------------------------------------------------------------ blockers

    async def raise_blocker(
        self,
        session: AsyncSession,
        http: httpx.AsyncClient,
        principal: Principal,
        project: Project,
        body: BlockerIn,
        idempotency_key: str,
    ) -> tuple[ProjectBlocker, str]:
        """Raise the blocker as a request of the enterprise through intake (channel 帮办代办):
        it is verified, supervised and rated like any request, and its case links back to the
        project. Retries with the same key get intake's same receipt and the same blocker."""
        if not project.contact_phone:
            raise ProjectContactMissing()
        area = await self._unit(session, project.area_unit_id)
        payload: dict[str, Any] = {
            "channel": Channel.agency.value,
            "type": body.type.value,
            "urgency": body.urgency.value,
            "title": body.title,
            "description": body.description,
            "location": {"area_code": area.code},
            "submitter": {
                "kind": SubmitterKind.enterprise.value, "name": project.contact_name,
                "phone": project.contact_phone, "uscc": project.uscc,
                "enterprise_name": project.enterprise_name,
            },
            "recorded_by": principal.actor,
            "project_id": str(project.id),
        }  # fmt: skip
        if body.topic is not None:
            payload["topic"] = body.topic.value
        try:
            answer = await http.post(
                f"{common_settings().intake_url}/v1/service/requests",
                json=payload,
                headers={"Authorization": f"Bearer {service_token('routing')}",
                         "Idempotency-Key": idempotency_key},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                "受理服务暂不可用,请稍后再试", "The intake service is unavailable",
                code="intake_unavailable",
            ) from exc  # fmt: skip
        if answer.status_code >= 500:
            raise ServiceUnavailable("受理服务暂不可用,请稍后再试", "The intake service is unavailable",
                                     code="intake_unavailable")  # fmt: skip
        if answer.status_code >= 400:
            raise _IntakeRefused.of(answer)
        receipt = answer.json()
        request_id = uuid.UUID(receipt["id"])
        existing = await session.scalar(
            select(ProjectBlocker).where(ProjectBlocker.request_id == request_id)
        )
        if existing is not None:
            return existing, receipt["tracking_secret"]
        blocker = ProjectBlocker(
            id=uuid.uuid4(), project_id=project.id, request_id=request_id,
            tracking_no=receipt["tracking_no"], title=body.title, raised_by=principal.actor,
            raised_at=utcnow(),
        )  # fmt: skip
        session.add(blocker)
        history.record(session, project, actor=principal.actor, action="blocker.raise",
                       reason=body.title, data={"tracking_no": blocker.tracking_no})  # fmt: skip
        await session.flush()
        return blocker, receipt["tracking_secret"]

    async def blockers(self, session: AsyncSession, project: Project) -> list[BlockerOut]:
        rows = (
            await session.execute(
                select(ProjectBlocker, Case.id, Case.status)
                .outerjoin(Case, Case.request_id == ProjectBlocker.request_id)
                .where(ProjectBlocker.project_id == project.id)
                .order_by(ProjectBlocker.raised_at, ProjectBlocker.id)
            )
        ).all()
        return [self.blocker_out(b, case_id, status) for b, case_id, status in rows]

    @staticmethod
    def blocker_out(b: ProjectBlocker, case_id: uuid.UUID | None, status: str | None) -> BlockerOut:
        state = CaseStatus(status) if status else None
        return BlockerOut(
            id=b.id, project_id=b.project_id, request_id=b.request_id, tracking_no=b.tracking_no,
            title=b.title, raised_by=b.raised_by, raised_at=b.raised_at, case_id=case_id,
            case_status=state, case_status_label=state.label_zh if state else None,
        )  # fmt: skip

    # ------------------------------------------------------------------ internals

    async def _steps(self, session: AsyncSession, project_id: uuid.UUID) -> list[ProjectStep]:
        return list(
            (
                await session.scalars(
                    select(ProjectStep)
                    .where(ProjectStep.project_id == project_id)
                    .order_by(ProjectStep.position)
                )
            ).all()
        )

    async def _cards(
        self, session: AsyncSession, ids: Iterable[uuid.UUID | None]
    ) -> dict[uuid.UUID, Card]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        return {c.id: c for c in await session.scalars(select(Card).where(Card.id.in_(wanted)))}

    async def _notes(
        self, session: AsyncSession, card_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[CardNote]]:
        found: dict[uuid.UUID, list[CardNote]] = {}
        if not card_ids:
            return found
        rows = await session.scalars(
            select(CardNote)
            .where(CardNote.card_id.in_(card_ids))
            .order_by(CardNote.at, CardNote.id)
        )
        for note in rows:
            found.setdefault(note.card_id, []).append(note)
        return found

    async def _unit(self, session: AsyncSession, unit_id: uuid.UUID) -> OrgUnit:
        unit = await session.get(OrgUnit, unit_id)
        assert unit is not None
        return unit

    async def _units(
        self, session: AsyncSession, items: Sequence[StepIn], catalogue: Mapping[str, Any]
    ) -> dict[str, OrgUnit]:
        """Each new step's department: the one named in the plan, else the catalogue's; it
        must be an active department."""
        repo = ProjectRepository(session)
        defaults = await repo.units([catalogue[i.procedure_code].unit_id for i in items])
        units: dict[str, OrgUnit] = {}
        for item in items:
            if item.unit_code is not None:
                units[item.procedure_code] = await responsible_department(session, item.unit_code)
                continue
            unit_id = catalogue[item.procedure_code].unit_id
            if unit_id is None:
                raise StepUnitMissing(details={"procedure_code": item.procedure_code})
            unit = defaults[unit_id]
            if not is_active_department(unit):
                raise ResponsibleUnitInvalid(details={"unit_code": unit.code})
            units[item.procedure_code] = unit
        return units

    async def _find_case(self, session: AsyncSession, project_id: uuid.UUID) -> Case | None:
        return await session.scalar(
            select(Case).where(
                Case.project_id == project_id, Case.project_role == case_facts.AGENCY_PLAN
            )
        )

    async def _agency_case(
        self, session: AsyncSession, principal: Principal, project: Project
    ) -> Case:
        """The project's agency case (locked), opened with its first step. It is the project's
        dossier at the center: owned by its center, special (supervised throughout)."""
        case = await self._find_case(session, project.id)
        if case is not None:
            await session.refresh(case, with_for_update=True)
            return case
        return await case_service.open_center_case(
            session, principal.actor, {"project": str(project.id)}, tracking_no=project.tracking_no,
            channel=Channel.agency.value, type=RequestType.help.value, topic=Topic.permit.value,
            urgency=Urgency.normal.value, title=f"项目代办:{project.name}"[:200],
            description=f"{project.enterprise_name} · 投资{project.investment}万元",
            area_code=None,
            submitter={"kind": SubmitterKind.enterprise.value, "name": project.contact_name,
                       "phone": project.contact_phone, "uscc": project.uscc,
                       "enterprise_name": project.enterprise_name, "masked": False},
            submitter_kind=SubmitterKind.enterprise.value, enterprise_uscc=project.uscc,
            enterprise_name=project.enterprise_name, status=CaseStatus.in_progress.value,
            classification=Classification.special.value, owner_unit_id=project.center_unit_id,
            project_id=project.id, project_role=case_facts.AGENCY_PLAN,
        )  # fmt: skip

    async def _advance(
        self, session: AsyncSession, calendar: Any, case: Case, project: Project,
        actor: str, now: datetime,
    ) -> None:  # fmt: skip
        """Dispatch every waiting step whose prerequisites in the plan are all settled."""
        steps = await self._steps(session, project.id)
        settled = {s.procedure_code for s in steps if s.status in _SETTLED}
        ready = [
            s for s in steps
            if s.status == StepStatus.waiting.value and all(p in settled for p in s.prerequisites)
        ]  # fmt: skip
        if not ready:
            return
        units = await ProjectRepository(session).units([s.unit_id for s in ready])
        for step in ready:
            await self._dispatch(
                session, calendar, case, project, step, units[step.unit_id], actor, now
            )

    async def _dispatch(
        self, session: AsyncSession, calendar: Any, case: Case, project: Project,
        step: ProjectStep, unit: OrgUnit, actor: str, now: datetime,
    ) -> Card:  # fmt: skip
        instructions = f"【代办事项】{step.name}" + (
            f"\n{step.instructions}" if step.instructions else ""
        )
        card = case_service.new_card(
            session, calendar, case, unit, CardRole.step, days=step.limit_days, actor=actor,
            instructions=instructions, now=now, project_id=project.id,
            procedure_code=step.procedure_code, legal_limit_days=step.legal_limit_days,
        )  # fmt: skip
        await session.flush()  # the card exists before the step points at it
        step.card_id, step.status, step.dispatched_at = card.id, StepStatus.in_progress.value, now
        case_history.record(session, case, actor=actor, action="step.dispatch", card_id=card.id,
                            to_status=card.status,
                            data={"step": step.procedure_code, "unit": unit.code,
                                  "limit_days": step.limit_days,
                                  "due_at": card.due_at.isoformat()})  # fmt: skip
        await case_service.announce_card(session, case, card, unit)
        return card

    def _done_on_spot(
        self, session: AsyncSession, calendar: Any, case: Case, project: Project,
        step: ProjectStep, unit: OrgUnit, actor: str, result: str | None, now: datetime,
    ) -> Card:  # fmt: skip
        """当场办结: the card is created done and approved, on time, in no working days."""
        card = case_service.new_card(
            session, calendar, case, unit, CardRole.step, days=step.limit_days, actor=actor,
            instructions=f"【代办事项·当场办结】{step.name}", now=now, project_id=project.id,
            procedure_code=step.procedure_code, legal_limit_days=step.legal_limit_days, on_spot=True,
        )  # fmt: skip
        card.status = CardStatus.approved.value
        card.signed_at = card.submitted_at = card.approved_at = now
        card.signed_by = actor
        card.result = result or "当场办结"
        card.next_check_at = None
        step.card_id, step.status = card.id, StepStatus.done.value
        step.dispatched_at = step.done_at = now
        case_history.record(session, case, actor=actor, action="step.on_spot", card_id=card.id,
                            to_status=card.status, data={"step": step.procedure_code, "unit": unit.code})  # fmt: skip
        case_facts.card_snapshot(session, card, unit, working_days_taken=0)
        return card

    async def _cancel_step(
        self, session: AsyncSession, case: Case, step: ProjectStep, reason: str, actor: str
    ) -> None:
        if step.card_id is not None:
            card = await session.get(Card, step.card_id, with_for_update=True)
            assert card is not None
            if card.status not in (CardStatus.approved.value, CardStatus.cancelled.value,
                                   CardStatus.returned.value):  # fmt: skip
                unit = await self._unit(session, card.unit_id)
                await case_service.cancel_card(session, case, card, unit, reason)
                case_history.record(session, case, actor=actor, action="step.cancel",
                                    card_id=card.id, reason=reason,
                                    data={"step": step.procedure_code})  # fmt: skip
        step.status = StepStatus.cancelled.value
        step.cancel_reason = reason


class _IntakeRefused(ServiceError):
    """Intake refused the blocker's request: its answer, passed on (status, code, message)."""

    @classmethod
    def of(cls, answer: httpx.Response) -> _IntakeRefused:
        try:
            body = answer.json()
        except ValueError:
            body = {}
        error = body.get("error", {}) if isinstance(body, dict) else {}
        return cls(
            error.get("message") or "受理服务拒绝了该问题",
            error.get("message_en") or "The intake service refused the blocker",
            code=error.get("code") or "intake_refused",
            status_code=answer.status_code if answer.status_code in (400, 409, 422) else 422,
            details=error.get("details"),
        )


agency_service = AgencyService()
