"""The SQL of the case and card lists: the caller's scope, the filters and the sort, built once
here so a queue's count and the list it links to can never disagree."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from routing_service.assignment.repository import UnitRepository
from routing_service.assignment.service import CASE_SEARCH_FIELDS
from routing_service.deadline.calendar import calendar_provider
from routing_service.models import Card, Case, Extension, OrgUnit
from routing_service.worklist.schemas import CardFilters, CaseFilters, _Filters
from services.auth import Principal
from services.filters import day_start, within_days
from services.models import utcnow
from services.pagination import Key, Keyset
from services.policy import ListScope, list_scope
from services.search import parse_query
from shared.calendar import SHANGHAI

OPEN_CARD_STATUSES = ("dispatched", "signed")

CASE_SORTS: dict[str, Keyset] = {
    "received": Keyset((Key(Case.received_at, "datetime"), Key(Case.id, "uuid"))),
    "-received": Keyset((Key(Case.received_at, "datetime", True), Key(Case.id, "uuid", True))),
    "updated": Keyset((Key(Case.updated_at, "datetime"), Key(Case.id, "uuid"))),
    "-updated": Keyset((Key(Case.updated_at, "datetime", True), Key(Case.id, "uuid", True))),
    # Cases with nothing due (finished) have no due date: the due sorts leave them out.
    "due": Keyset((Key(Case.due_at, "datetime"), Key(Case.id, "uuid"))),
    "-due": Keyset((Key(Case.due_at, "datetime", True), Key(Case.id, "uuid", True))),
}
CARD_SORTS: dict[str, Keyset] = {
    "due": Keyset((Key(Card.due_at, "datetime"), Key(Card.id, "uuid"))),
    "-due": Keyset((Key(Card.due_at, "datetime", True), Key(Card.id, "uuid", True))),
    "dispatched": Keyset((Key(Card.dispatched_at, "datetime"), Key(Card.id, "uuid"))),
    "-dispatched": Keyset((Key(Card.dispatched_at, "datetime", True), Key(Card.id, "uuid", True))),
    "updated": Keyset((Key(Card.updated_at, "datetime"), Key(Card.id, "uuid"))),
    "-updated": Keyset((Key(Card.updated_at, "datetime", True), Key(Card.id, "uuid", True))),
}
# Relevance tiers, best first: the title, the names and numbers, the address, the text (the
# tiers the case's search_grams are tagged with: routing_service.assignment.service).
SEARCH_FIELDS = tuple(tuple(getattr(Case, name) for name in tier) for tier in CASE_SEARCH_FIELDS)


class Unknown(Exception):
    """A unit code that names no unit: the list is empty, not an error (a filter value)."""


class ListQuery:
    """Scope and filters resolved against the database (unit codes → paths, the calendar for
    "due soon"), then turned into WHERE clauses for cases or cards."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.scope: ListScope = list_scope(principal)
        self.units = UnitRepository.from_session(session)

    async def _unit(self, code: str) -> OrgUnit | None:
        return await self.units.by_code(code)

    async def _scope_units(self) -> tuple[OrgUnit | None, str | None, bool]:
        """(own unit for departments, subtree path for centers, unrestricted)."""
        if self.scope.own_unit_code is not None:
            unit = await self._unit(self.scope.own_unit_code) if self.scope.own_unit_code else None
            if unit is None:
                raise Unknown()
            return unit, None, False
        if self.scope.subtree is None:
            return None, None, True
        root = await self.units.root()
        if root is not None and self.scope.subtree == root.path:
            return None, None, True  # the district center: no filter, not a subtree scan
        return None, self.scope.subtree, False

    async def _due_window(self, state: str) -> ColumnElement[bool]:
        now = utcnow()
        if state == "overdue":
            return Card.due_at < now
        calendar = await calendar_provider.get(self.session)
        today = now.astimezone(SHANGHAI).date()
        next_day = calendar.next_working_day(today)
        return and_(Card.due_at >= now, Card.due_at < day_start(next_day + timedelta(days=1)))

    async def _card_conditions(self, filters: _Filters) -> list[ColumnElement[bool]]:
        """Conditions on a card row (used directly for cards, inside EXISTS for cases)."""
        where: list[ColumnElement[bool]] = []
        where += within_days(Card.due_at, filters.due_from, filters.due_to)
        if filters.due_state:
            where += [
                Card.status.in_(OPEN_CARD_STATUSES),
                await self._due_window(filters.due_state),
            ]
        if filters.ladder:
            where.append(Card.supervision_level.in_([level.value for level in filters.ladder]))
        if filters.extension:
            requested = select(Extension.id).where(Extension.card_id == Card.id)
            if filters.extension == "none":
                where.append(~exists(requested))
            elif filters.extension == "any":
                where.append(exists(requested))
            else:
                where.append(exists(requested.where(Extension.status == filters.extension)))
        return where

    def _case_conditions(self, filters: _Filters) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        for column, values in ((Case.topic, filters.topic), (Case.channel, filters.channel),
                               (Case.type, filters.type), (Case.urgency, filters.urgency),
                               (Case.classification, filters.classification)):  # fmt: skip
            if values:
                where.append(column.in_([v.value for v in values]))
        if filters.submitter_kind:
            where.append(Case.submitter_kind == filters.submitter_kind.value)
        if filters.uscc:
            where.append(Case.enterprise_uscc == filters.uscc)
        where += within_days(Case.received_at, filters.received_from, filters.received_to)
        if filters.redo_min is not None:
            where.append(Case.redo_count >= filters.redo_min)
        return where

    # ---------------------------------------------------------------- cases

    async def cases(
        self, filters: CaseFilters
    ) -> tuple[Select[Any], Keyset, list[ColumnElement[bool]]]:
        """The case list's statement, its order and (relevance) its tiers, best first."""
        search = parse_query(filters.q)
        stmt = select(Case)
        try:
            own, subtree, _everything = await self._scope_units()
        except Unknown:
            return stmt.where(false()), CASE_SORTS["-received"], []
        card_of_case: list[ColumnElement[bool]] = [Card.case_id == Case.id]
        if own is not None:
            stmt = stmt.where(exists(select(Card.id).where(Card.case_id == Case.id,
                                                           Card.unit_id == own.id)))  # fmt: skip
        elif subtree is not None:
            stmt = stmt.where(self._owned_or_carded_under(subtree))
        for code, exact in ((filters.unit_code, True), (filters.area, False)):
            if code:
                unit = await self._unit(code)
                if unit is None:
                    return stmt.where(false()), CASE_SORTS["-received"], []
                stmt = stmt.where(
                    self._owned_or_carded_by(unit)
                    if exact
                    else self._owned_or_carded_under(unit.path)
                )
        stmt = stmt.where(*self._case_conditions(filters))
        if filters.status:
            stmt = stmt.where(Case.status.in_([s.value for s in filters.status]))
        stmt = stmt.where(*within_days(Case.closed_at, filters.closed_from, filters.closed_to))
        card_where = await self._card_conditions(filters)
        if card_where:
            stmt = stmt.where(exists(select(Card.id).where(*card_of_case, *card_where)))
        sort = filters.sort or ("relevance" if search else "-received")
        if search is not None:
            dialect = self.session.get_bind().dialect.name
            await search.learn(self.session, Case.__tablename__)
            if sort == "relevance":
                tiers = search.tiers(dialect, Case.search_grams, SEARCH_FIELDS)
                return stmt, CASE_SORTS["-received"], tiers
            stmt = stmt.where(search.condition(dialect, Case.search_grams, SEARCH_FIELDS))
        elif sort == "relevance":
            sort = "-received"
        if sort in ("due", "-due"):
            stmt = stmt.where(Case.due_at.is_not(None))
        return stmt, CASE_SORTS[sort], []

    @staticmethod
    def _owned_or_carded_under(path: str) -> ColumnElement[bool]:
        under = select(OrgUnit.id).where(OrgUnit.path.startswith(path))
        return Case.owner_unit_id.in_(under) | exists(
            select(Card.id).where(Card.case_id == Case.id, Card.unit_id.in_(under))
        )

    @staticmethod
    def _owned_or_carded_by(unit: OrgUnit) -> ColumnElement[bool]:
        return (Case.owner_unit_id == unit.id) | exists(
            select(Card.id).where(Card.case_id == Case.id, Card.unit_id == unit.id)
        )

    # ---------------------------------------------------------------- cards

    async def cards(self, filters: CardFilters) -> tuple[Select[Any], Keyset]:
        stmt = select(Card)
        keyset = CARD_SORTS[filters.sort]
        try:
            own, subtree, _everything = await self._scope_units()
        except Unknown:
            return stmt.where(false()), keyset
        if own is not None:
            stmt = stmt.where(Card.unit_id == own.id)
        elif subtree is not None:
            stmt = stmt.where(
                Card.unit_id.in_(select(OrgUnit.id).where(OrgUnit.path.startswith(subtree)))
            )
        for code, exact in ((filters.unit_code, True), (filters.area, False)):
            if code:
                unit = await self._unit(code)
                if unit is None:
                    return stmt.where(false()), keyset
                stmt = stmt.where(
                    Card.unit_id == unit.id
                    if exact
                    else Card.unit_id.in_(
                        select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path))
                    )
                )
        if filters.status:
            stmt = stmt.where(Card.status.in_([s.value for s in filters.status]))
        if filters.sent_back is not None:
            stmt = stmt.where(
                (Card.send_back_count > 0) if filters.sent_back else (Card.send_back_count == 0)
            )
        stmt = stmt.where(*await self._card_conditions(filters))
        case_where = self._case_conditions(filters)
        if case_where:
            stmt = stmt.where(exists(select(Case.id).where(Case.id == Card.case_id, *case_where)))
        return stmt, keyset
