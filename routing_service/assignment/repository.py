from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import Card, Case, Milestone, OrgUnit
from services.db import row_locks


class CaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CaseRepository:
        return cls(session)

    def get_base_statement(self) -> Select[Case]:
        return select(Case)

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> Case | None:
        stmt = self.get_base_statement().where(Case.id == case_id)
        if for_update and row_locks(self.session):
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def get_with_owner(
        self, case_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[Case, OrgUnit] | None:
        """The case and its owning unit in one read (every access check needs the owner);
        with ``for_update`` only the case row is locked."""
        stmt = (
            select(Case, OrgUnit)
            .join(OrgUnit, OrgUnit.id == Case.owner_unit_id)
            .where(Case.id == case_id)
        )
        if for_update and row_locks(self.session):
            stmt = stmt.with_for_update(of=Case)
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            return None
        UnitRepository.from_session(self.session).keep(row[1])
        return row[0], row[1]

    async def lock_many(self, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Case]:
        """Load and lock these cases in one statement, in id order (every batch locks in the
        same order, so two batches never wait on each other in a cycle)."""
        stmt = self.get_base_statement().where(Case.id.in_(sorted(case_ids))).order_by(Case.id)
        if row_locks(self.session):
            stmt = stmt.with_for_update()
        return {case.id: case for case in await self.session.scalars(stmt)}

    async def by_request(self, request_id: uuid.UUID, *, for_update: bool = False) -> Case | None:
        stmt = self.get_base_statement().where(Case.request_id == request_id)
        if for_update and row_locks(self.session):
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def by_tracking_no(self, tracking_no: str) -> Case | None:
        return await self.session.scalar(
            self.get_base_statement().where(Case.tracking_no == tracking_no)
        )

    async def cards(self, case_id: uuid.UUID) -> Sequence[Card]:
        return (
            await self.session.scalars(
                select(Card).where(Card.case_id == case_id).order_by(Card.dispatched_at)
            )
        ).all()

    async def milestones(self, case_id: uuid.UUID) -> Sequence[Milestone]:
        return (
            await self.session.scalars(
                select(Milestone).where(Milestone.case_id == case_id).order_by(Milestone.position)
            )
        ).all()


class CardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CardRepository:
        return cls(session)

    async def get(self, card_id: uuid.UUID) -> Card | None:
        return await self.session.get(Card, card_id)

    async def due_for_supervision(self, now: datetime, limit: int) -> Sequence[Card]:
        stmt = (
            select(Card)
            .where(Card.next_check_at.is_not(None), Card.next_check_at <= now)
            .order_by(Card.next_check_at)
            .limit(limit)
        )
        if row_locks(self.session):
            stmt = stmt.with_for_update(skip_locked=True)
        return (await self.session.scalars(stmt)).all()

    async def open_provisional(self) -> Sequence[Card]:
        return (
            await self.session.scalars(
                select(Card).where(
                    Card.due_provisional.is_(True),
                    Card.status.in_(["dispatched", "signed", "suspended"]),
                )
            )
        ).all()


# The session's identity map holds clean objects weakly: a unit read for an access check is
# gone by the time the answer needs its name, and is read again. Units read through this
# repository stay referenced for the session's life (a request or a job).
_UNITS_READ = "units_read"
_ROOT_ID = "org_root_id"


class UnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._read: dict[uuid.UUID, OrgUnit] = session.info.setdefault(_UNITS_READ, {})

    @classmethod
    def from_session(cls, session: AsyncSession) -> UnitRepository:
        return cls(session)

    def keep(self, unit: OrgUnit | None) -> OrgUnit | None:
        """Hold ``unit`` for the session's life (see ``_UNITS_READ``)."""
        if unit is not None:
            self._read[unit.id] = unit
        return unit

    async def get(self, unit_id: uuid.UUID) -> OrgUnit | None:
        unit = self._read.get(unit_id)
        return unit if unit is not None else self.keep(await self.session.get(OrgUnit, unit_id))

    async def by_code(self, code: str) -> OrgUnit | None:
        return self.keep(
            await self.session.scalar(
                select(OrgUnit).where(OrgUnit.code == code, OrgUnit.active.is_(True))
            )
        )

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OrgUnit]:
        found = {i: self._read[i] for i in set(ids) if i in self._read}
        missing = set(ids) - found.keys()
        if missing:
            rows = await self.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(missing)))
            for row in rows:
                self.keep(row)
                found[row.id] = row
        return found

    async def root(self) -> OrgUnit | None:
        # Read once per session: every new request of a worker's group starts at the root.
        root_id = self.session.info.get(_ROOT_ID)
        if root_id in self._read:
            return self._read[root_id]
        root = self.keep(
            await self.session.scalar(
                select(OrgUnit).where(
                    OrgUnit.kind == "district_center", OrgUnit.parent_id.is_(None)
                )
            )
        )
        if root is not None:
            self.session.info[_ROOT_ID] = root.id
        return root

    async def discipline(self) -> OrgUnit | None:
        return await self.session.scalar(
            select(OrgUnit).where(OrgUnit.kind == "discipline", OrgUnit.active.is_(True))
        )

    async def street_center_for_area(self, area_code: str | None) -> OrgUnit | None:
        """The street/township center whose subtree contains the area's unit."""
        if not area_code:
            return None
        unit = await self.by_code(area_code)
        if unit is None:
            return None
        if unit.kind == "street_center":
            return unit
        if unit.kind == "community_center" and unit.parent_id is not None:
            return await self.session.get(OrgUnit, unit.parent_id)
        return None
