"""The CPPCC "165" express (政协委员营商环境直通车): liaison stations, members, visits.

A visit's issues become ordinary requests on the ``cppcc_165`` channel, attributed to the member
and the visit, so they are routed, supervised and scored like any other (问题移交, 跟踪问效).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.cppcc.exceptions import (
    ImportRejected,
    InvalidDateRange,
    MemberExists,
    MemberNotFound,
    StationExists,
    StationNotFound,
    VisitNotFound,
)
from intake_service.cppcc.repository import CppccRepository, Paging, VisitFilter
from intake_service.cppcc.schemas import (
    MemberCreate,
    MemberDetail,
    MemberFilters,
    MemberOut,
    MemberPage,
    StationCreate,
    StationOut,
    Summary,
    TargetKind,
    VisitCreate,
    VisitFilters,
    VisitIssueIn,
    VisitOut,
    VisitPage,
    VisitRequest,
)
from intake_service.issue.repository import IssueRepository
from intake_service.issue.schemas import IssueCreate, LocationIn, SubmitterIn
from intake_service.issue.service import issue_service, phone_index
from intake_service.models import CppccMember, CppccVisit, Issue, LiaisonStation
from services.api_keys import ApiKeyIdentity
from services.models import utcnow
from services.outbox import add_event
from services.pagination import query_fingerprint
from shared.enums import Channel, RequestStatus, SubmitterKind, Topic
from shared.events import VisitLogged
from shared.schemas.paging import PageQuery

# 答复办结 (seed: "答复办结52件") and 在办; duplicates, rejections, merges and withdrawals are
# neither, and appear only in ``by_status``.
ANSWERED_CLOSED = frozenset({RequestStatus.answered, RequestStatus.completed, RequestStatus.closed})
PENDING = frozenset(
    {
        RequestStatus.received,
        RequestStatus.verifying,
        RequestStatus.dispatched,
        RequestStatus.in_progress,
        RequestStatus.extended,
        RequestStatus.suspended,
    }
)


@dataclass(frozen=True, slots=True)
class RecordedVisit:
    visit: VisitOut
    issues: list[tuple[Issue, str]]


def _station_out(station: LiaisonStation, member_count: int) -> StationOut:
    return StationOut(
        id=station.id,
        name=station.name,
        sector=station.sector,
        member_count=member_count,
        created_at=station.created_at,
    )


def _member_out(member: CppccMember, station_name: str) -> MemberOut:
    return MemberOut(
        id=member.id,
        name=member.name,
        phone=None if member.phone is None else str(member.phone),  # the personal ring opens
        sector=member.sector,
        station_id=member.station_id,
        station_name=station_name,
        created_at=member.created_at,
    )


def _visit_out(
    visit: CppccVisit, member_name: str, station_id: uuid.UUID, station_name: str
) -> VisitOut:
    return VisitOut(
        id=visit.id,
        member_id=visit.member_id,
        member_name=member_name,
        station_id=station_id,
        station_name=station_name,
        target_kind=TargetKind(visit.target_kind),
        target_name=visit.target_name,
        uscc=visit.uscc,
        area_code=visit.area_code,
        visited_on=visit.visited_on,
        findings=visit.findings,
        issue_count=visit.issue_count,
        created_at=visit.created_at,
    )


def _row_error(row: int, field: str, code: str, zh: str, en: str) -> dict[str, Any]:
    return {
        "row": row + 1,
        "loc": ["body", "members", str(row), field],
        "type": code,
        "msg": f"{zh} / {en}",
    }


def _paging(filters: PageQuery, caller: str) -> Paging:
    """A page of a list: its cursor is bound to the caller and the filters."""
    return Paging(
        cursor=filters.cursor,
        limit=filters.limit,
        fingerprint=query_fingerprint(caller, filters.fingerprint_params()),
        with_total=filters.with_total,
    )


def check_range(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidDateRange()


class CppccService:
    # ---- stations ---------------------------------------------------------------------------

    async def create_station(self, session: AsyncSession, data: StationCreate) -> StationOut:
        repository = CppccRepository.from_session(session)
        if await repository.station_by_name(data.name) is not None:
            raise StationExists()
        station = LiaisonStation(
            id=uuid.uuid4(), name=data.name, sector=data.sector, created_at=utcnow()
        )
        session.add(station)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent create won the unique name
            raise StationExists() from exc
        return _station_out(station, 0)

    async def list_stations(self, session: AsyncSession) -> list[StationOut]:
        rows = await CppccRepository.from_session(session).stations_with_member_counts()
        return [_station_out(station, count) for station, count in rows]

    # ---- members ----------------------------------------------------------------------------

    async def create_member(self, session: AsyncSession, data: MemberCreate) -> MemberOut:
        repository = CppccRepository.from_session(session)
        station = await repository.get_station(data.station_id)
        if station is None:
            raise StationNotFound(status_code=422, details={"station_id": str(data.station_id)})
        if data.phone is not None and (data.name, data.phone) in await repository.existing_members(
            [data.phone]
        ):
            raise MemberExists()
        member = self._new_member(data, station)
        session.add(member)
        await session.flush()
        return _member_out(member, station.name)

    async def import_members(
        self, session: AsyncSession, rows: list[MemberCreate]
    ) -> list[MemberOut]:
        """All rows or none: every row error is reported at once (1-based ``row`` and ``loc``)."""
        repository = CppccRepository.from_session(session)
        stations = await repository.stations_by_ids(row.station_id for row in rows)
        existing = await repository.existing_members(row.phone for row in rows if row.phone)
        errors: list[dict[str, Any]] = []
        seen: dict[tuple[str, str], int] = {}
        for index, row in enumerate(rows):
            if row.station_id not in stations:
                errors.append(
                    _row_error(
                        index,
                        "station_id",
                        "station_not_found",
                        "联络站不存在",
                        "No such liaison station",
                    )
                )
            if row.phone is None:
                continue
            pair = (row.name, row.phone)
            if pair in existing:
                errors.append(
                    _row_error(
                        index,
                        "phone",
                        "member_exists",
                        "该委员已登记",
                        "This member is already registered",
                    )
                )
            elif pair in seen:
                errors.append(
                    _row_error(
                        index,
                        "phone",
                        "duplicate_row",
                        f"与第{seen[pair] + 1}行重复",
                        f"same member as row {seen[pair] + 1}",
                    )
                )
            else:
                seen[pair] = index
        if errors:
            raise ImportRejected(details=errors)
        members = [self._new_member(row, stations[row.station_id]) for row in rows]
        session.add_all(members)
        await session.flush()
        return [_member_out(member, stations[member.station_id].name) for member in members]

    @staticmethod
    def _new_member(data: MemberCreate, station: LiaisonStation) -> CppccMember:
        return CppccMember(
            id=uuid.uuid4(),
            name=data.name,
            phone=data.phone,
            phone_index=phone_index(data.phone),
            sector=data.sector or station.sector,
            station_id=station.id,
            created_at=utcnow(),
        )

    async def list_members(
        self, session: AsyncSession, filters: MemberFilters, *, caller: str
    ) -> MemberPage:
        rows, next_cursor, total = await CppccRepository.from_session(session).list_members(
            station_id=filters.station_id, paging=_paging(filters, caller)
        )
        return MemberPage(
            items=[_member_out(member, station_name) for member, station_name in rows],
            next_cursor=next_cursor, limit=filters.limit, total=total,
        )  # fmt: skip

    async def get_member(self, session: AsyncSession, member_id: uuid.UUID) -> MemberDetail:
        repository = CppccRepository.from_session(session)
        row = await repository.get_member(member_id)
        if row is None:
            raise MemberNotFound()
        member, station_name = row
        visits, issues = await repository.member_activity(member_id)
        return MemberDetail(
            **_member_out(member, station_name).model_dump(), visit_count=visits, issue_count=issues
        )

    # ---- visits -----------------------------------------------------------------------------

    async def record_visit(
        self, session: AsyncSession, data: VisitCreate, *, client: ApiKeyIdentity
    ) -> RecordedVisit:
        """Log a visit and hand each issue collected to the center as a request (问题移交)."""
        repository = CppccRepository.from_session(session)
        row = await repository.get_member(data.member_id)
        if row is None:
            raise MemberNotFound(status_code=422, details={"member_id": str(data.member_id)})
        member, station_name = row
        visit = CppccVisit(
            id=uuid.uuid4(),
            member_id=member.id,
            target_kind=data.target_kind.value,
            target_name=data.target_name,
            uscc=data.uscc,
            area_code=data.area_code,
            visited_on=data.visited_on,
            findings=data.findings,
            issue_count=len(data.issues),
            created_at=utcnow(),
        )
        session.add(visit)
        await session.flush()  # the requests reference the visit
        issues: list[tuple[Issue, str]] = []
        for item in data.issues:
            request = self._request_for(data, item, member)
            issues.append(
                await issue_service.submit(
                    session,
                    request,
                    client=client,
                    cppcc_member_id=member.id,
                    cppcc_visit_id=visit.id,
                )
            )
        add_event(
            session,
            VisitLogged(
                visit_id=visit.id,
                channel=Channel.cppcc_165,
                target_kind=visit.target_kind,
                target_name=visit.target_name,
                uscc=visit.uscc,
                visited_on=visit.visited_on,
                recorded_by=f"政协委员{member.name}",
                issue_count=visit.issue_count,
            ),
        )
        return RecordedVisit(
            _visit_out(visit, member.name, member.station_id, station_name), issues
        )

    @staticmethod
    def _request_for(visit: VisitCreate, item: VisitIssueIn, member: CppccMember) -> IssueCreate:
        location = item.location
        if location is None:
            location = LocationIn(area_code=visit.area_code) if visit.area_code else None
        elif location.area_code is None and visit.area_code is not None:
            location = location.model_copy(update={"area_code": visit.area_code})
        return IssueCreate(
            channel=Channel.cppcc_165,
            type=item.type,
            topic=item.topic,
            urgency=item.urgency,
            title=item.title,
            description=item.description,
            location=location,
            submitter=SubmitterIn(
                kind=SubmitterKind.enterprise if visit.uscc else SubmitterKind.person,
                name=item.contact.name,
                phone=item.contact.phone,
                uscc=visit.uscc,
                enterprise_name=visit.target_name,
            ),
            recorded_by=f"政协委员{member.name}",
        )

    async def list_visits(
        self, session: AsyncSession, filters: VisitFilters, *, caller: str
    ) -> VisitPage:
        check_range(filters.start, filters.end)
        where = VisitFilter(
            member_id=filters.member_id,
            station_id=filters.station_id,
            start=filters.start,
            end=filters.end,
            target_kind=filters.target_kind.value if filters.target_kind else None,
        )
        rows, next_cursor, total = await CppccRepository.from_session(session).list_visits(
            where, paging=_paging(filters, caller)
        )
        return VisitPage(
            items=[_visit_out(*row) for row in rows],
            next_cursor=next_cursor, limit=filters.limit, total=total,
        )  # fmt: skip

    async def get_visit(
        self, session: AsyncSession, visit_id: uuid.UUID
    ) -> tuple[VisitOut, list[VisitRequest]]:
        repository = CppccRepository.from_session(session)
        row = await repository.get_visit(visit_id)
        if row is None:
            raise VisitNotFound()
        issues = await repository.visit_issues(visit_id)
        originals = await IssueRepository.from_session(session).tracking_nos(
            [issue.duplicate_of_id for issue in issues if issue.duplicate_of_id is not None]
        )
        requests = []
        for issue in issues:
            status = RequestStatus(issue.status)
            requests.append(
                VisitRequest(
                    tracking_no=issue.tracking_no,
                    title=issue.title,
                    type=issue.type,  # type: ignore[arg-type]
                    topic=issue.topic,  # type: ignore[arg-type]
                    status=status,
                    status_label=status.label_zh,
                    agency_responsible=issue.agency_responsible,
                    duplicate_of=originals.get(issue.duplicate_of_id)
                    if issue.duplicate_of_id
                    else None,
                    received_at=issue.received_at,
                    status_changed_at=issue.status_changed_at,
                )
            )
        return _visit_out(*row), requests

    # ---- summary ----------------------------------------------------------------------------

    async def summary(self, session: AsyncSession, where: VisitFilter) -> Summary:
        """The express's public figures, counted from the visits and their requests."""
        check_range(where.start, where.end)
        repository = CppccRepository.from_session(session)
        totals = await repository.visit_totals(where)
        by_topic: Counter[str] = Counter({topic.value: 0 for topic in Topic})
        by_status: Counter[str] = Counter({status.value: 0 for status in RequestStatus})
        for topic, status, count in await repository.issue_counts(where):
            by_topic[topic] += count
            by_status[status] += count
        if where.station_id is not None:
            stations = 1 if await repository.get_station(where.station_id) is not None else 0
        else:
            stations = await repository.count_stations()
        return Summary(
            start=where.start,
            end=where.end,
            stations=stations,
            members=await repository.count_members(where.station_id),
            active_members=totals["active_members"],
            enterprises_visited=totals["enterprises"],
            merchants_visited=totals["merchants"],
            visits=totals["visits"],
            issues_collected=sum(by_status.values()),
            answered_closed=sum(by_status[status.value] for status in ANSWERED_CLOSED),
            pending=sum(by_status[status.value] for status in PENDING),
            by_topic=dict(by_topic),
            by_status=dict(by_status),
        )


cppcc_service = CppccService()
