"""Reads and locks of projects and procedures."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.department.repository import OrgUnitRepository
from routing_service.models import OrgUnit, Procedure, Project, StaffUser
from routing_service.project.exceptions import ResponsibleUnitInvalid
from shared.enums import UnitKind


def is_active_department(unit: OrgUnit | None) -> bool:
    """Whether a unit can be responsible for a procedure or a step: an active department."""
    return unit is not None and unit.active and unit.kind == UnitKind.department


async def responsible_department(session: AsyncSession, code: str) -> OrgUnit:
    """The active department with ``code``, or 422 ``responsible_unit_invalid``."""
    unit = await OrgUnitRepository.from_session(session).get_by_code(code)
    if unit is None or not is_active_department(unit):
        raise ResponsibleUnitInvalid(details={"unit_code": code})
    return unit


class ProcedureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> dict[str, Procedure]:
        rows = await self.session.scalars(select(Procedure).order_by(Procedure.code))
        return {row.code: row for row in rows}

    async def get_by_code(self, code: str, *, for_update: bool = False) -> Procedure | None:
        stmt = select(Procedure).where(Procedure.code == code)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, project_id: uuid.UUID, *, for_update: bool = False) -> Project | None:
        stmt = select(Project).where(Project.id == project_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def units(self, ids: Collection[uuid.UUID | None]) -> dict[uuid.UUID, OrgUnit]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = await self.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(wanted)))
        return {row.id: row for row in rows}

    async def staff(self, ids: Collection[uuid.UUID | None]) -> dict[uuid.UUID, StaffUser]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = await self.session.scalars(select(StaffUser).where(StaffUser.id.in_(wanted)))
        return {row.id: row for row in rows}
