"""The lists on SQLite, the embedded default (``make run``): search falls back to a substring
match (no GIN), and the case's due date is kept by the same flush hook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from routing_service.models import Case, Model, OrgUnit
from routing_service.spec import spec
from routing_service.worklist.filters import ListQuery
from routing_service.worklist.schemas import CaseFilters
from services.auth import Principal
from services.db import AsyncSessionMaker
from services.pagination import query_fingerprint, read_page
from tests.fixtures.database import sqlite_sessionmaker_for
from tests.routing_service.assignment.helpers import arrive

CENTER = Principal(
    kind="staff", subject="hs_operator", role="operator", unit_code="HS", unit_path="/HS/"
)


@pytest.fixture
async def sqlite_sessionmaker(tmp_path: Path) -> AsyncIterator[AsyncSessionMaker]:
    async with sqlite_sessionmaker_for(tmp_path, Model.metadata, "routing") as sessionmaker:
        # Cases tell the submitter through the outbox, as in the service.
        sessionmaker.configure(info={"outbox_model": spec.outbox_model, "service_name": "routing"})
        async with sessionmaker() as session:
            session.add(OrgUnit(code="HS", name="邯山区营商环境优化中心", kind="district_center",
                                tier=1, path="/HS/"))  # fmt: skip
            await session.commit()
        yield sessionmaker


async def _page(
    sessionmaker: AsyncSessionMaker, filters: CaseFilters
) -> tuple[list[Case], str | None]:
    async with sessionmaker() as session:
        stmt, keyset, tiers = await ListQuery(session, CENTER).cases(filters)
        rows, cursor, _total = await read_page(
            session, stmt, keyset, cursor=filters.cursor, limit=filters.limit,
            fingerprint=query_fingerprint(CENTER.actor, filters.fingerprint_params()), tiers=tiers,
        )  # fmt: skip
        return rows, cursor


async def test_search_and_pages_on_sqlite(sqlite_sessionmaker: AsyncSessionMaker) -> None:
    water = await arrive(
        sqlite_sessionmaker, title="小区停水三天", description="光明大街小区三天停水"
    )
    for _ in range(4):
        await arrive(sqlite_sessionmaker)
    rows, _ = await _page(sqlite_sessionmaker, CaseFilters(q="停水"))
    assert [r.id for r in rows] == [water]
    assert (rows[0].search_grams, rows[0].due_at is not None) == (None, True)  # nothing indexed
    seen, cursor = [], None
    while True:
        rows, cursor = await _page(
            sqlite_sessionmaker, CaseFilters(limit=2, sort="due", cursor=cursor)
        )
        seen += [r.id for r in rows]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
