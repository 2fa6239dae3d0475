"""Queries of the CPPCC "165" express: stations, members, visits and their requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.models import CppccMember, CppccVisit, Issue, LiaisonStation
from services.pagination import Key, Keyset, read_page

# A visit with its member's name and its station's id and name.
VisitRow = Row[CppccVisit, str, uuid.UUID, str]
VisitTuple = tuple[CppccVisit, str, uuid.UUID, str]


MEMBER_ORDER = Keyset((Key(CppccMember.created_at, "datetime"), Key(CppccMember.id, "uuid")))
# Newest visit first, then the newest logged; the id makes the order total.
VISIT_ORDER = Keyset(
    (
        Key(CppccVisit.visited_on, "date", True),
        Key(CppccVisit.created_at, "datetime", True),
        Key(CppccVisit.id, "uuid", True),
    )
)


@dataclass(frozen=True, slots=True)
class Paging:
    cursor: str | None
    limit: int
    fingerprint: str
    with_total: bool


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
        self, *, station_id: uuid.UUID | None, paging: Paging
    ) -> tuple[list[tuple[CppccMember, str]], str | None, int | None]:
        """One page of members with their station names, the next cursor and the total."""
        stmt = select(CppccMember)
        if station_id is not None:
            stmt = stmt.where(CppccMember.station_id == station_id)
        members, next_cursor, total = await read_page(
            self.session, stmt, MEMBER_ORDER, cursor=paging.cursor, limit=paging.limit,
            fingerprint=paging.fingerprint, with_total=paging.with_total,
        )  # fmt: skip
        stations = await self.stations_by_ids(m.station_id for m in members)
        return [(m, stations[m.station_id].name) for m in members], next_cursor, total

    async def count_members(self, station_id: uuid.UUID | None = None) -> int:
        stmt = select(func.count()).select_from(CppccMember)
        if station_id is not None:
            stmt = stmt.where(CppccMember.station_id == station_id)
        return int(await self.session.scalar(stmt) or 0)

    async def existing_members(self, phones: Iterable[str]) -> set[tuple[str, str]]:
        """(name, phone) pairs already registered among these phone numbers."""
        from intake_service.issue.service import phone_index

        wanted = {phone_index(phone): phone for phone in phones}
        if not wanted:
            return set()
        rows = await self.session.execute(
            select(CppccMember.name, CppccMember.phone_index).where(
                CppccMember.phone_index.in_(wanted)
            )
        )
        return {(row.name, wanted[row.phone_index]) for row in rows}

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
        self, where: VisitFilter, *, paging: Paging
    ) -> tuple[list[VisitTuple], str | None, int | None]:
        """One page of visits with their members' names and stations, the next cursor and the
        total."""
        stmt = (
            select(CppccVisit)
            .join(CppccMember, CppccMember.id == CppccVisit.member_id)
            .where(*where.conditions())
        )
        visits, next_cursor, total = await read_page(
            self.session, stmt, VISIT_ORDER, cursor=paging.cursor, limit=paging.limit,
            fingerprint=paging.fingerprint, with_total=paging.with_total,
        )  # fmt: skip
        members: dict[uuid.UUID, CppccMember] = {}
        if visits:
            found = await self.session.scalars(
                select(CppccMember).where(CppccMember.id.in_({v.member_id for v in visits}))
            )
            members = {member.id: member for member in found}
        stations = await self.stations_by_ids(m.station_id for m in members.values())
        rows: list[VisitTuple] = []
        for visit in visits:
            member = members[visit.member_id]
            station = stations[member.station_id]
            rows.append((visit, member.name, station.id, station.name))
        return rows, next_cursor, total

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
