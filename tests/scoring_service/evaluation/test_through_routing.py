"""Scorecard figures for cases driven through routing to closure (through its API, events
carried by the pump), with timings pinned to October 2026 and checked against hand-computed
values: an approved extension counts as on time, a returned card, a redo."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update

from routing_service.assignment import facts
from routing_service.models import Card, OrgUnit
from scoring_service.models import Rating
from services.db import AsyncSessionMaker
from shared.calendar import default_calendar
from tests.fixtures.loop import Loop
from tests.routing_service.assignment.helpers import key_headers, local, ok

Times = dict[str, datetime | None]


async def pin(loop: Loop, card_id: str, times: Times) -> None:
    """Give a card known timings, then publish its snapshot as routing does on every change."""
    async with loop.makers["routing"]() as session:
        await session.execute(update(Card).where(Card.id == uuid.UUID(card_id)).values(**times))
        card = await session.get(Card, uuid.UUID(card_id))
        assert card is not None
        unit = await session.get(OrgUnit, card.unit_id)
        assert unit is not None
        taken = (
            default_calendar().working_days_between(card.dispatched_at, card.submitted_at)
            if card.submitted_at and card.approved_at
            else None
        )
        facts.card_snapshot(session, card, unit, working_days_taken=taken)
        await session.commit()
    await loop.flush()


async def rate_at(loop: Loop, case_id: str, body: dict[str, Any], at: datetime) -> str:
    rating = await ok(await loop.scoring.post(f"/v1/cases/{case_id}/ratings", headers=loop.org.auth("hs_operator"),
                                              json={"method": "visit", **body}), 201)  # fmt: skip
    async with loop.makers["scoring"]() as session:
        await session.execute(
            update(Rating).where(Rating.id == uuid.UUID(rating["id"])).values(rated_at=at)
        )
        await session.commit()
    return str(rating["id"])


async def new_case(loop: Loop, unit: str = "DEPT-JT") -> tuple[str, str]:
    receipt = await ok(
        await loop.intake.post(
            "/v1/requests", json=_body(), headers={"X-API-Key": loop.channel_key}
        ),
        201,
    )
    await loop.flush()
    case = await ok(
        await loop.routing.get(
            f"/v1/cases/by-tracking/{receipt['tracking_no']}", headers=loop.org.auth("hs_operator")
        )
    )
    await ok(await loop.routing.post(f"/v1/cases/{case['id']}/verify", headers=loop.org.auth("hs_operator"),
                                     json={"decision": "accept", "classification": "general"}))  # fmt: skip
    dispatched = await ok(await loop.routing.post(f"/v1/cases/{case['id']}/dispatch", headers=loop.org.auth("hs_dispatcher"),
                                                  json={"units": [{"unit_code": unit}]}))  # fmt: skip
    return case["id"], dispatched["cards"][-1]["id"]


_counter = iter(range(1000))


def _body() -> dict[str, Any]:
    n = next(_counter)
    return {"channel": "app", "type": "complaint", "title": f"道路破损第{n}处", "description": f"园区第{n}号路段路面破损严重,影响通行。",
            "submitter": {"kind": "person", "phone": f"137{n:08d}"}}  # fmt: skip


async def finish(loop: Loop, card: str, unit_key: str) -> None:
    await ok(
        await loop.routing.post(
            f"/v1/cards/{card}/complete", headers=key_headers(unit_key), json={"result": "已修复"}
        )
    )
    await ok(
        await loop.routing.post(
            f"/v1/cards/{card}/review",
            headers=loop.org.auth("hs_dispatcher"),
            json={"accept": True},
        )
    )
    await loop.flush()


async def test_october_scorecard_of_the_transport_bureau(
    loop: Loop, routing_sessionmaker: AsyncSessionMaker
) -> None:
    jt = key_headers(loop.jt_key)
    # a: on time everywhere, rated satisfied.
    case_a, card_a = await new_case(loop)
    await ok(await loop.routing.post(f"/v1/cards/{card_a}/sign", headers=jt))
    await finish(loop, card_a, loop.jt_key)
    # b: extension approved, completed after the original due date but before the new one.
    case_b, card_b = await new_case(loop)
    await ok(await loop.routing.post(f"/v1/cards/{card_b}/sign", headers=jt))
    ext = await ok(
        await loop.routing.post(
            f"/v1/cards/{card_b}/extensions",
            headers=jt,
            json={"days": 3, "reason": "需协调施工单位"},
        ),
        201,
    )
    await ok(
        await loop.routing.post(
            f"/v1/cards/{card_b}/extensions/{ext['id']}/decide",
            headers=loop.org.auth("hs_supervisor"),
            json={"approve": True},
        )
    )
    await finish(loop, card_b, loop.jt_key)
    # c: returned by the bureau without signing; the planning bureau then handles it.
    case_c, card_c = await new_case(loop)
    await ok(
        await loop.routing.post(
            f"/v1/cards/{card_c}/return", headers=jt, json={"reason": "属规划部门职责"}
        )
    )
    # d: signed late, completed, rated unsatisfied for the bureau's reasons, redone, completed.
    case_d, card_d = await new_case(loop)
    await ok(await loop.routing.post(f"/v1/cards/{card_d}/sign", headers=jt))
    await finish(loop, card_d, loop.jt_key)
    first = await rate_at(
        loop,
        case_d,
        {"satisfaction": "unsatisfied", "resolved": False, "unit_at_fault": True},
        local("2026-10-20T10:00:00"),
    )
    await ok(
        await loop.scoring.post(
            f"/v1/ratings/{first}/redo",
            headers=loop.org.auth("hs_supervisor"),
            json={"reason": "路面修补不平整"},
        )
    )
    await loop.flush()
    await finish(loop, card_d, loop.jt_key)

    # Known timings, all in October 2026 (National Day 10-01…07; 10-10 is a make-up Saturday).
    await pin(loop, card_a, {"dispatched_at": local("2026-10-09T09:00:00"), "sign_due_at": local("2026-10-09T11:00:00"),
                             "signed_at": local("2026-10-09T10:00:00"), "contact_due_at": local("2026-10-10T23:59:59"),
                             "first_contact_at": local("2026-10-09T11:00:00"), "original_due_at": local("2026-10-16T23:59:59"),
                             "due_at": local("2026-10-16T23:59:59"), "submitted_at": local("2026-10-14T10:00:00"),
                             "approved_at": local("2026-10-14T15:00:00")})  # fmt: skip
    await pin(loop, card_b, {"dispatched_at": local("2026-10-09T09:00:00"), "sign_due_at": local("2026-10-09T11:00:00"),
                             "signed_at": local("2026-10-09T09:30:00"), "contact_due_at": local("2026-10-10T23:59:59"),
                             "first_contact_at": local("2026-10-13T09:00:00"), "original_due_at": local("2026-10-16T23:59:59"),
                             "due_at": local("2026-10-21T23:59:59"), "submitted_at": local("2026-10-20T16:00:00"),
                             "approved_at": local("2026-10-21T09:00:00")})  # fmt: skip
    await pin(loop, card_c, {"dispatched_at": local("2026-10-09T09:00:00"), "sign_due_at": local("2026-10-09T11:00:00"),
                             "returned_at": local("2026-10-09T14:00:00"), "original_due_at": local("2026-10-16T23:59:59"),
                             "due_at": local("2026-10-16T23:59:59")})  # fmt: skip
    await pin(loop, card_d, {"dispatched_at": local("2026-10-12T09:00:00"), "sign_due_at": local("2026-10-12T11:00:00"),
                             "signed_at": local("2026-10-12T16:00:00"), "contact_due_at": local("2026-10-13T23:59:59"),
                             "first_contact_at": local("2026-10-12T16:30:00"), "original_due_at": local("2026-10-26T23:59:59"),
                             "due_at": local("2026-10-26T23:59:59"), "submitted_at": local("2026-10-23T10:00:00"),
                             "approved_at": local("2026-10-23T15:00:00")})  # fmt: skip
    await rate_at(
        loop, case_a, {"satisfaction": "satisfied", "resolved": True}, local("2026-10-15T10:00:00")
    )
    await rate_at(
        loop, case_b, {"satisfaction": "basic", "resolved": True}, local("2026-10-22T10:00:00")
    )
    await rate_at(
        loop, case_d, {"satisfaction": "satisfied", "resolved": True}, local("2026-10-27T10:00:00")
    )

    card = await ok(
        await loop.scoring.get(
            "/v1/evaluation/scorecards/DEPT-JT?month=2026-10", headers=loop.org.auth("hs_leader")
        )
    )

    def ratio(name: str) -> tuple[int, int]:
        return card[name]["numerator"], card[name]["denominator"]

    assert card["unit_kind"] == "department"  # as routing reported it with the cards
    assert card["dispatched"] == 4
    assert ratio("sign_on_time") == (2, 4)  # a, b on time; c never signed; d late
    assert ratio("response") == (1, 4)  # b's first contact came after its contact deadline
    assert card["due_in_period"] == 3  # a, b (extended to 10-21), d; c was returned
    assert ratio("completion_on_time") == (3, 3)  # b counts as on time thanks to its extension
    assert ratio("returned") == (1, 4)
    assert card["completed"] == 3
    assert ratio("redo") == (1, 3)  # d was redone
    assert ratio("satisfaction") == (3, 4)  # satisfied a, d(2nd) + basic b (k = 1) of 4 revisits
    assert ratio("resolution") == (3, 4)  # d's first revisit found it unresolved
    # Working days from dispatch to completion: a 10-09→10-14 = 4 (10-10 is a working Saturday),
    # b 10-09→10-20 = 8, d 10-12→10-23 = 9; mean 7.
    assert card["average_working_days"] == 7.0
    assert card["overdue"] == 0
    # 10·0.5 + 30·1 + 40·0.75 + 20·0.75 = 80
    assert card["score"] == 80.0
