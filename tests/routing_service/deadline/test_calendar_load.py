"""Provisional deadlines in a year without an official schedule, recomputed when it is loaded."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
from sqlalchemy import update

from routing_service.models import Card
from services.db import AsyncSessionMaker
from shared.calendar import default_calendar
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, local, ok, verify_and_dispatch


async def test_2027_deadline_is_provisional_until_the_schedule_is_loaded(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    if default_calendar().is_confirmed(2027):
        import pytest

        pytest.skip("the holiday library already knows 2027")
    case_id = await arrive(routing_sessionmaker)
    card_id = uuid.UUID((await verify_and_dispatch(routing_client, org, case_id))["cards"][0]["id"])
    start = local("2027-02-03T10:00:00")  # Wednesday before the Spring Festival
    provisional = default_calendar().add_working_days(start, 5)
    # Without the 2027 notice the statutory days (除夕 02-05 to 初三 02-08) are still skipped:
    # 02-04, 02-09, 02-10, 02-11, 02-12.
    assert provisional.provisional
    assert provisional.due_at == local("2027-02-12T23:59:59")
    async with routing_sessionmaker() as session:
        await session.execute(update(Card).where(Card.id == card_id).values(
            clock_start_at=start, dispatched_at=start, due_at=provisional.due_at,
            original_due_at=provisional.due_at, due_provisional=True))  # fmt: skip
        await session.commit()
    shown = await ok(
        await routing_client.get(f"/v1/cards/{card_id}", headers=org.auth("hs_dispatcher"))
    )
    assert shown["due_provisional"] is True

    denied = await routing_client.post("/v1/calendar/years", headers=org.auth("hs_dispatcher"),
                                       json={"year": 2027, "holidays": ["2027-01-01"], "workdays": []})  # fmt: skip
    assert denied.status_code == 403
    # The notice adds bridge days 02-04 and 02-09 to 02-11 and a make-up Saturday 02-20.
    notice = {"year": 2027, "workdays": ["2027-02-20"], "holidays": [
        "2027-01-01", "2027-02-04", "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08",
        "2027-02-09", "2027-02-10", "2027-02-11", "2027-04-05", "2027-05-01", "2027-05-02",
        "2027-06-09", "2027-09-15", "2027-10-01", "2027-10-02", "2027-10-03"]}  # fmt: skip
    result = await ok(await routing_client.post("/v1/calendar/years", headers=org.auth("admin"),
                                                json={**notice,
                                                      "source": "国务院办公厅关于2027年部分节假日安排的通知"}))  # fmt: skip
    assert result == {"year": 2027, "recomputed": 1, "changed": 1, "still_provisional": 0}
    card = await ok(
        await routing_client.get(f"/v1/cards/{card_id}", headers=org.auth("hs_dispatcher"))
    )
    assert card["due_provisional"] is False
    # 02-12, 02-15, 02-16, 02-17, 02-18.
    assert datetime.fromisoformat(card["due_at"]) == local("2027-02-18T23:59:59")
    deadline = await ok(await routing_client.get("/v1/calendar/deadline", headers=org.auth("hs_dispatcher"),
                                                 params={"start": "2027-02-03T10:00:00+08:00", "working_days": 5}))  # fmt: skip
    assert deadline["provisional"] is False
    assert datetime.fromisoformat(deadline["due_at"]) == local("2027-02-18T23:59:59")
    bad = await routing_client.post("/v1/calendar/years", headers=org.auth("admin"),
                                    json={"year": 2027, "holidays": ["2028-01-01"], "workdays": []})  # fmt: skip
    assert bad.status_code == 422


async def test_national_day_deadline_through_the_api(
    routing_client: httpx.AsyncClient, org: Org
) -> None:
    deadline = await ok(await routing_client.get("/v1/calendar/deadline", headers=org.auth("hs_dispatcher"),
                                                 params={"start": "2026-09-28T09:00:00+08:00", "working_days": 5}))  # fmt: skip
    assert datetime.fromisoformat(deadline["due_at"]) == local("2026-10-10T23:59:59")
    assert deadline["provisional"] is False
