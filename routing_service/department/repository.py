from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import Select, delete, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import ApiKey, DispatchRule, OrgUnit, StaffUser
from services.pagination import Key, Keyset
from shared.enums import Role, UnitKind

# The staff list's order: by unit (parents before children), then username; the id breaks ties.
STAFF_ORDER = Keyset(
    (Key(OrgUnit.path, "str"), Key(StaffUser.username, "str"), Key(StaffUser.id, "uuid"))
)


class OrgUnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> OrgUnitRepository:
        return cls(session)

    def get_base_statement(self) -> Select[OrgUnit]:
        return select(OrgUnit)

    async def get_by_code(self, code: str) -> OrgUnit | None:
        return await self.session.scalar(self.get_base_statement().where(OrgUnit.code == code))

    async def get_by_id(self, unit_id: uuid.UUID) -> OrgUnit | None:
        return await self.session.get(OrgUnit, unit_id)

    async def get_by_codes(self, codes: Collection[str]) -> dict[str, OrgUnit]:
        if not codes:
            return {}
        units = await self.session.scalars(
            self.get_base_statement().where(OrgUnit.code.in_(list(codes)))
        )
        return {unit.code: unit for unit in units}

    async def get_by_ids(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, OrgUnit]:
        if not ids:
            return {}
        units = await self.session.scalars(
            self.get_base_statement().where(OrgUnit.id.in_(list(ids)))
        )
        return {unit.id: unit for unit in units}

    async def district_roots(self) -> Sequence[OrgUnit]:
        stmt = self.get_base_statement().where(
            OrgUnit.parent_id.is_(None), OrgUnit.kind == UnitKind.district_center.value
        )
        return (await self.session.scalars(stmt.order_by(OrgUnit.code))).all()

    async def list(
        self,
        *,
        kind: str | None = None,
        include_inactive: bool = True,
        path_prefix: str | None = None,
        paths: Collection[str] | None = None,
    ) -> Sequence[OrgUnit]:
        """Units ordered by path (parents before children); ``path_prefix`` limits to a subtree,
        ``paths`` to exactly those units."""
        stmt = self.get_base_statement()
        if kind is not None:
            stmt = stmt.where(OrgUnit.kind == kind)
        if not include_inactive:
            stmt = stmt.where(OrgUnit.active.is_(True))
        if path_prefix is not None:
            stmt = stmt.where(OrgUnit.path.startswith(path_prefix, autoescape=True))
        if paths is not None:
            stmt = stmt.where(OrgUnit.path.in_(list(paths)))
        return (await self.session.scalars(stmt.order_by(OrgUnit.path))).all()

    async def count_active_children(self, unit_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(OrgUnit.parent_id == unit_id, OrgUnit.active.is_(True))
        return int(await self.session.scalar(stmt) or 0)

    async def move_subtree(self, old_path: str, new_path: str) -> None:
        """Rewrite the path of a unit and its whole subtree (and of dispatch rules scoped to
        it), one statement per table; objects already loaded are refreshed."""
        await self.session.flush()
        cut = len(old_path) + 1
        await self.session.execute(
            update(OrgUnit)
            .where(OrgUnit.path.startswith(old_path, autoescape=True))
            .values(path=literal(new_path) + func.substr(OrgUnit.path, cut))
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(DispatchRule)
            .where(DispatchRule.area_path.startswith(old_path, autoescape=True))
            .values(area_path=literal(new_path) + func.substr(DispatchRule.area_path, cut))
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            self.get_base_statement()
            .where(OrgUnit.path.startswith(new_path, autoescape=True))
            .execution_options(populate_existing=True)
        )
        await self.session.execute(
            select(DispatchRule)
            .where(DispatchRule.area_path.startswith(new_path, autoescape=True))
            .execution_options(populate_existing=True)
        )


class StaffUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> StaffUserRepository:
        return cls(session)

    def get_base_statement(self) -> Select[StaffUser, OrgUnit]:
        return select(StaffUser, OrgUnit).join(OrgUnit, StaffUser.unit_id == OrgUnit.id)

    async def get_by_username(self, username: str) -> tuple[StaffUser, OrgUnit] | None:
        row = (
            await self.session.execute(
                self.get_base_statement().where(StaffUser.username == username)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def get_by_usernames(self, usernames: Collection[str]) -> dict[str, StaffUser]:
        if not usernames:
            return {}
        users = await self.session.scalars(
            select(StaffUser).where(StaffUser.username.in_(list(usernames)))
        )
        return {user.username: user for user in users}

    def list_statement(
        self,
        *,
        path_prefix: str | None = None,
        unit_path: str | None = None,
        unit_code: str | None = None,
        role: str | None = None,
        active: bool | None = None,
    ) -> Select[StaffUser]:
        """Staff matching the filters, joined to their unit (for the sort by unit path); a
        page of it is read by ``services.pagination.read_page`` with :data:`STAFF_ORDER`."""
        stmt = select(StaffUser).join(OrgUnit, StaffUser.unit_id == OrgUnit.id)
        if path_prefix is not None:
            stmt = stmt.where(OrgUnit.path.startswith(path_prefix, autoescape=True))
        if unit_path is not None:
            stmt = stmt.where(OrgUnit.path == unit_path)
        if unit_code is not None:
            stmt = stmt.where(OrgUnit.code == unit_code)
        if role is not None:
            stmt = stmt.where(StaffUser.role == role)
        if active is not None:
            stmt = stmt.where(StaffUser.active.is_(active))
        return stmt

    async def count_active_in_unit(self, unit_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(StaffUser.unit_id == unit_id, StaffUser.active.is_(True))
        return int(await self.session.scalar(stmt) or 0)

    async def count_active_admins(self, *, excluding: uuid.UUID | None = None) -> int:
        stmt = select(func.count()).where(
            StaffUser.role == Role.admin.value, StaffUser.active.is_(True)
        )
        if excluding is not None:
            stmt = stmt.where(StaffUser.id != excluding)
        return int(await self.session.scalar(stmt) or 0)


class DispatchRuleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DispatchRuleRepository:
        return cls(session)

    def get_base_statement(self) -> Select[DispatchRule, OrgUnit]:
        return select(DispatchRule, OrgUnit).join(OrgUnit, DispatchRule.unit_id == OrgUnit.id)

    async def get(self, rule_id: uuid.UUID) -> tuple[DispatchRule, OrgUnit] | None:
        row = (
            await self.session.execute(self.get_base_statement().where(DispatchRule.id == rule_id))
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def list(
        self,
        *,
        topic: str | None = None,
        unit_id: uuid.UUID | None = None,
        area_path: str | None = None,
        include_inactive: bool = True,
    ) -> Sequence[tuple[DispatchRule, OrgUnit]]:
        stmt = self.get_base_statement()
        if topic is not None:
            stmt = stmt.where(DispatchRule.topic == topic)
        if unit_id is not None:
            stmt = stmt.where(DispatchRule.unit_id == unit_id)
        if area_path is not None:
            stmt = stmt.where(DispatchRule.area_path == area_path)
        if not include_inactive:
            stmt = stmt.where(DispatchRule.active.is_(True))
        stmt = stmt.order_by(
            DispatchRule.topic,
            DispatchRule.area_path,
            DispatchRule.confidence.desc(),
            DispatchRule.created_at,
            DispatchRule.id,
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def matching(
        self, topic: str, area_paths: Collection[str]
    ) -> Sequence[tuple[DispatchRule, OrgUnit]]:
        """Active rules for ``topic`` scoped to one of ``area_paths`` (the area's ancestors and
        ``""`` for the whole district): an indexed lookup on (topic, area_path)."""
        stmt = self.get_base_statement().where(
            DispatchRule.topic == topic,
            DispatchRule.active.is_(True),
            DispatchRule.area_path.in_(list(area_paths)),
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def same_key(
        self, topic: str, area_path: str, unit_id: uuid.UUID
    ) -> Sequence[DispatchRule]:
        stmt = select(DispatchRule).where(
            DispatchRule.topic == topic,
            DispatchRule.area_path == area_path,
            DispatchRule.unit_id == unit_id,
        )
        return (await self.session.scalars(stmt)).all()

    async def count_active_for_unit(self, unit_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            DispatchRule.unit_id == unit_id, DispatchRule.active.is_(True)
        )
        return int(await self.session.scalar(stmt) or 0)

    async def delete(self, rule_id: uuid.UUID) -> None:
        await self.session.execute(delete(DispatchRule).where(DispatchRule.id == rule_id))


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ApiKeyRepository:
        return cls(session)

    def get_base_statement(self) -> Select[ApiKey]:
        return select(ApiKey)

    async def list_for_scope(self, scope: str) -> Sequence[ApiKey]:
        stmt = self.get_base_statement().where(ApiKey.scope == scope).order_by(ApiKey.created_at)
        return (await self.session.scalars(stmt)).all()

    async def get_for_scope(self, key_id: uuid.UUID, scope: str) -> ApiKey | None:
        return await self.session.scalar(
            self.get_base_statement().where(ApiKey.id == key_id, ApiKey.scope == scope)
        )


__all__ = [
    "ApiKeyRepository",
    "DispatchRuleRepository",
    "OrgUnitRepository",
    "StaffUserRepository",
]
