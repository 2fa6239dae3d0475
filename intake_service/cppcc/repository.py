"""Queries of the CPPCC "165" express: stations, members, visits and their requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Row, Select, String, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.models import CppccMember, CppccVisit, Issue, LiaisonStation

# A visit with its member's name and its station's id and name.
VisitRow = Row[CppccVisit, str, uuid.UUID, str]


@dataclass(frozen=True, slots=True)
class VisitFilter:
    member_id: uuid.UUID | None = None
    station_id: uuid.UUID | None = None
    start: date | None = None
    end: date | None = None
    target_kind: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.member_id is not None:
            conditions.append(CppccVisit.member_id == self.member_id)
        if self.station_id is not None:
            conditions.append(CppccMember.station_id == self.station_id)
        if self.start is not None:
            conditions.append(CppccVisit.visited_on >= self.start)
        if self.end is not None:
            conditions.append(CppccVisit.visited_on <= self.end)
        if self.target_kind is not None:
            conditions.append(CppccVisit.target_kind == self.target_kind)
        return conditions


class CppccRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CppccRepository:
        return cls(session)

    # ---- stations ---------------------------------------------------------------------------

    async def get_station(self, station_id: uuid.UUID) -> LiaisonStation | None:
        return await self.session.get(LiaisonStation, station_id)

    async def station_by_name(self, name: str) -> LiaisonStation | None:
        return await self.session.scalar(select(LiaisonStation).where(LiaisonStation.name == name))

    async def stations_by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, LiaisonStation]:
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(
            select(LiaisonStation).where(LiaisonStation.id.in_(wanted))
        )
        return {station.id: station for station in rows}

    async def stations_with_member_counts(self) -> Sequence[Row[LiaisonStation, int]]:
        stmt = (
            select(LiaisonStation, func.count(CppccMember.id))
            .outerjoin(CppccMember, CppccMember.station_id == LiaisonStation.id)
            .group_by(LiaisonStation.id)
            .order_by(LiaisonStation.created_at, LiaisonStation.name)
        )
        return (await self.session.execute(stmt)).all()

    async def count_stations(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(LiaisonStation)) or 0)

    # ---- members ----------------------------------------------------------------------------

    def _members(self) -> Select[CppccMember, str]:
        return select(CppccMember, LiaisonStation.name).join(
            LiaisonStation, LiaisonStation.id == CppccMember.station_id
        )

    async def get_member(self, member_id: uuid.UUID) -> Row[CppccMember, str] | None:
        row = (
            await self.session.execute(self._members().where(CppccMember.id == member_id))
        ).first()
        return row

    async def list_members(
        self, *, station_id: uuid.UUID | None, limit: int, offset: int
    ) -> tuple[Sequence[Row[CppccMember, str]], int]:
        stmt = self._members()
        count = select(func.count()).select_from(CppccMember)
        if station_id is not None:
            stmt = stmt.where(CppccMember.station_id == station_id)
            count = count.where(CppccMember.station_id == station_id)
        stmt = stmt.order_by(CppccMember.created_at, CppccMember.id).limit(limit).offset(offset)
        rows = (await self.session.execute(stmt)).all()
        return rows, int(await self.session.scalar(count) or 0)

    async def count_members(self, station_id: uuid.UUID | None = None) -> int:
        stmt = select(func.count()).select_from(CppccMember)
        if station_id is not None:
            stmt = stmt.where(CppccMember.station_id == station_id)
        return int(await self.session.scalar(stmt) or 0)

    async def existing_members(self, phones: Iterable[str]) -> set[tuple[str, str]]:
        """(name, phone) pairs already registered among these phone numbers."""
        wanted = set(phones)
        if not wanted:
            return set()
        rows = await self.session.execute(
            select(CppccMember.name, CppccMember.phone).where(CppccMember.phone.in_(wanted))
        )
        return {(row.name, row.phone) for row in rows if row.phone is not None}

    async def member_activity(self, member_id: uuid.UUID) -> tuple[int, int]:
        """Visits logged and issues collected by a member."""
        row = (
            await self.session.execute(
                select(
                    func.count(CppccVisit.id), func.coalesce(func.sum(CppccVisit.issue_count), 0)
                ).where(CppccVisit.member_id == member_id)
            )
        ).one()
        return int(row[0]), int(row[1])

    # ---- visits -----------------------------------------------------------------------------

    def _visits(self) -> Select[CppccVisit, str, uuid.UUID, str]:
        return (
            select(CppccVisit, CppccMember.name, LiaisonStation.id, LiaisonStation.name)
            .join(CppccMember, CppccMember.id == CppccVisit.member_id)
            .join(LiaisonStation, LiaisonStation.id == CppccMember.station_id)
        )

    async def get_visit(self, visit_id: uuid.UUID) -> VisitRow | None:
        return (await self.session.execute(self._visits().where(CppccVisit.id == visit_id))).first()

    async def list_visits(
        self, where: VisitFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[VisitRow], int]:
        conditions = where.conditions()
        stmt = (
            self._visits()
            .where(*conditions)
            .order_by(CppccVisit.visited_on.desc(), CppccVisit.created_at.desc(), CppccVisit.id)
            .limit(limit)
            .offset(offset)
        )
        count = (
            select(func.count())
            .select_from(CppccVisit)
            .join(CppccMember, CppccMember.id == CppccVisit.member_id)
            .where(*conditions)
        )
        rows = (await self.session.execute(stmt)).all()
        return rows, int(await self.session.scalar(count) or 0)

    async def visit_issues(self, visit_id: uuid.UUID) -> Sequence[Issue]:
        stmt = (
            select(Issue)
            .where(Issue.cppcc_visit_id == visit_id)
            .order_by(Issue.received_at, Issue.tracking_no)
        )
        return (await self.session.scalars(stmt)).all()

    # ---- summary ----------------------------------------------------------------------------

    async def visit_totals(self, where: VisitFilter) -> dict[str, int]:
        # One target = its credit code, else its name (prefixed so a name can never equal a code).
        target = func.coalesce(
            CppccVisit.uscc, literal("name:", String) + cast(CppccVisit.target_name, String)
        )
        enterprise = CppccVisit.target_kind == "enterprise"
        merchant = CppccVisit.target_kind == "merchant"
        stmt = select(
            func.count(CppccVisit.id).label("visits"),
            func.count(func.distinct(CppccVisit.member_id)).label("active_members"),
            func.count(func.distinct(case((enterprise, target), else_=None))).label("enterprises"),
            func.count(func.distinct(case((merchant, target), else_=None))).label("merchants"),
        ).where(*where.conditions())
        if where.station_id is not None:
            stmt = stmt.join(CppccMember, CppccMember.id == CppccVisit.member_id)
        row = (await self.session.execute(stmt)).one()
        return {key: int(value or 0) for key, value in row._mapping.items()}

    async def issue_counts(self, where: VisitFilter) -> Sequence[Row[str, str, int]]:
        """(topic, status, count) of the requests collected on the matching visits."""
        stmt = (
            select(Issue.topic, Issue.status, func.count(Issue.id))
            .join(CppccVisit, CppccVisit.id == Issue.cppcc_visit_id)
            .where(*where.conditions())
            .group_by(Issue.topic, Issue.status)
        )
        if where.station_id is not None:
            stmt = stmt.join(CppccMember, CppccMember.id == CppccVisit.member_id)
        return (await self.session.execute(stmt)).all()
