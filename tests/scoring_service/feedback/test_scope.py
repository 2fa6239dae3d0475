"""Feedback, ratings and revisits are scoped by the org tree like every read in routing: a case
exists for a center when its owner or a unit it was dispatched to lies in the center's subtree."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from scoring_service.models import CardFact, CaseFact
from services.db import AsyncSessionMaker
from tests.fixtures.loop import Loop
from tests.routing_service.assignment.helpers import ok

FEEDBACK = {"method": "original_channel", "notes": "电话回访,企业表示满意"}


async def _move(
    sessionmaker: AsyncSessionMaker, case_id: str, owner: str | None, card: str | None
) -> None:
    async with sessionmaker() as session:
        await session.execute(update(CaseFact).where(CaseFact.case_id == uuid.UUID(case_id))
                              .values(owner_unit_path=owner))  # fmt: skip
        await session.execute(update(CardFact).where(CardFact.case_id == uuid.UUID(case_id))
                              .values(unit_path=card))  # fmt: skip
        await session.commit()


async def _revisits(loop: Loop, who: str) -> list[str]:
    shown = await ok(await loop.scoring.get("/v1/revisits", headers=loop.org.auth(who)))
    return [r["tracking_no"] for r in shown["items"]]


async def test_paths_come_from_routing_snapshots(
    loop: Loop, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    case = await loop.completed_case()
    async with scoring_sessionmaker() as session:
        fact = await session.get(CaseFact, uuid.UUID(case["id"]))
        card = await session.get(CardFact, uuid.UUID(case["card_id"]))
        assert fact is not None
        assert card is not None
        assert (fact.owner_unit_path, card.unit_path) == ("/HS/", "/HS/DEPT-JT/")


async def test_a_street_may_not_touch_the_districts_case(loop: Loop) -> None:
    case = await loop.completed_case()
    url = f"/v1/cases/{case['id']}"
    for who in ("gm_operator", "yq_operator"):
        headers = loop.org.auth(who)
        assert (
            await loop.scoring.post(f"{url}/feedback", headers=headers, json=FEEDBACK)
        ).status_code == 404
        assert (await loop.scoring.post(f"{url}/ratings", headers=headers,
                                        json={"satisfaction": "satisfied"})).status_code == 404  # fmt: skip
        assert (await loop.scoring.get(f"{url}/feedback", headers=headers)).status_code == 404
        assert (await loop.scoring.get(f"{url}/ratings", headers=headers)).status_code == 404
        assert await _revisits(loop, who) == []
    assert await _revisits(loop, "hs_operator") == [case["tracking_no"]]
    assert (await loop.scoring.post(f"{url}/feedback", headers=loop.org.auth("hs_operator"),
                                    json=FEEDBACK)).status_code == 201  # fmt: skip


async def test_a_street_works_on_its_own_case_and_not_its_neighbours(
    loop: Loop, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    case = await loop.completed_case()
    await _move(scoring_sessionmaker, case["id"], "/HS/HS-GM/", "/HS/DEPT-JT/")
    url = f"/v1/cases/{case['id']}"
    assert await _revisits(loop, "gm_operator") == [case["tracking_no"]]
    assert await _revisits(loop, "yq_operator") == []
    assert (await loop.scoring.post(f"{url}/feedback", headers=loop.org.auth("gm_operator"),
                                    json=FEEDBACK)).status_code == 201  # fmt: skip
    assert (await loop.scoring.post(f"{url}/feedback", headers=loop.org.auth("yq_operator"),
                                    json=FEEDBACK)).status_code == 404  # fmt: skip
    # Dispatched to a unit in the street's subtree: the street sees it though it owns nothing.
    await _move(scoring_sessionmaker, case["id"], "/HS/", "/HS/HS-YQ/")
    assert await _revisits(loop, "yq_operator") == [case["tracking_no"]]
    assert await _revisits(loop, "gm_operator") == []
    # The district sees its streets' cases.
    assert await _revisits(loop, "hs_operator") == [case["tracking_no"]]


async def test_facts_recorded_before_paths_count_as_the_districts(
    loop: Loop, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    case = await loop.completed_case()
    await _move(scoring_sessionmaker, case["id"], None, None)
    assert await _revisits(loop, "hs_operator") == [case["tracking_no"]]
    assert await _revisits(loop, "gm_operator") == []
    denied = await loop.scoring.post(f"/v1/cases/{case['id']}/feedback",
                                     headers=loop.org.auth("gm_operator"), json=FEEDBACK)  # fmt: skip
    assert denied.status_code == 404
