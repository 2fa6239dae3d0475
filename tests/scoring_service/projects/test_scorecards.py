"""办件按时率(代办事项) in the monthly scorecards: project steps (cards of role ``step``) leave
every existing figure alone, and count only through their own rate and weight.

October 2026 (the evaluation tests' scenario, "now" 20 November) plus JT's steps, fed as
routing's card snapshots:
  s1 due 20 Oct, submitted 18 Oct: on time     s2 due 22 Oct, submitted 24 Oct: late (red)
  s3 on the spot on 27 Oct: on time            s4 returned on 23 Oct: out of every cohort
  s5 due 30 Oct, never submitted: overdue (listed)
  s6 suspended, due 30 Oct: pending            s7 due 25 Nov: November (pending there)
  -> JT: 5 due, 1 pending, 2 of 4 on time = 0.5.
DEPT-ZJ 区住房和城乡建设局 holds one step only, due 21 Oct and done on time -> 1/1.

With weight_agency 20 (others 10/30/40/20): JT base = (10 x 5/7 + 30 x 4/6 + 40 x 0.75 +
20 x 1 + 20 x 0.5) / 120 x 100 = 87.142857 / 1.2 = 72.619048 -> 72.62; minus 2.5 of deductions
(the steps' red and listed marks deduct nothing) = 70.119048 -> 70.12. GH, GM: no steps, the
weight is shared out as before -> 100, 80. ZJ: only the agency rate -> 100.
Annual JT: (14.29 + 70.12 + 0.0) / 3 = 28.136667 -> 28.14.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from scoring_service.evaluation.service import frozen_weights
from scoring_service.models import MonthlyScorecardClose
from services.db import AsyncSessionMaker
from shared.enums import CardStatus
from tests.scoring_service.evaluation.helpers import (
    FG,
    GH,
    GM,
    JT,
    JT_NAME,
    build_october,
    expected_jt,
    token,
)
from tests.scoring_service.projects.helpers import envelope, feed, sh, step

pytestmark = pytest.mark.usefixtures("frozen_now")

SCORECARDS = "/v1/evaluation/scorecards"
AUDITOR = token("auditor")
LEADER = token("leader")
ADMIN = token("admin")
ZJ = "DEPT-ZJ"
AGENCY_FIELDS = ("agency_due_in_period", "agency_on_time")


async def october(sessionmaker: AsyncSessionMaker) -> None:
    async with sessionmaker() as session:
        build_october(session)
        await session.commit()


async def jt_steps(sessionmaker: AsyncSessionMaker) -> None:
    jt = (JT, JT_NAME)
    project_id = uuid.uuid4()

    def s(**kwargs: Any) -> dict[str, Any]:
        return envelope(step(unit=jt, project_id=project_id, **kwargs))

    await feed(
        sessionmaker,
        s(dispatched=sh(10, 12), due=sh(10, 20, 17, 30), submitted=sh(10, 18),
          approved=sh(10, 19), working_days=4),
        s(dispatched=sh(10, 13), due=sh(10, 22, 17, 30), submitted=sh(10, 24),
          approved=sh(10, 26), working_days=8, level="red"),
        s(dispatched=sh(10, 27), due=sh(10, 27, 17, 30), submitted=sh(10, 27),
          approved=sh(10, 27), working_days=0, on_spot=True),
        s(status=CardStatus.returned, dispatched=sh(10, 21), due=sh(10, 29, 17, 30),
          returned=sh(10, 23)),
        s(status=CardStatus.signed, dispatched=sh(10, 22), due=sh(10, 30, 17, 30),
          level="listed", listed=True),
        s(status=CardStatus.suspended, dispatched=sh(10, 23), due=sh(10, 30, 17, 30)),
        s(status=CardStatus.signed, dispatched=sh(10, 29), due=sh(11, 25, 17, 30)),
        envelope(step(dispatched=sh(10, 14), due=sh(10, 21, 17, 30), submitted=sh(10, 20),
                      approved=sh(10, 21), working_days=5)),
    )  # fmt: skip


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def without_agency(card: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in card.items() if k not in AGENCY_FIELDS}


async def test_with_weight_zero_every_existing_figure_and_score_is_unchanged(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    await october(scoring_sessionmaker)
    params = {"month": "2026-10"}
    before = ok(await scoring_client.get(SCORECARDS, params=params, headers=AUDITOR))
    annual_before = ok(
        await scoring_client.get("/v1/evaluation/annual", params={"year": 2026}, headers=AUDITOR)
    )
    await jt_steps(scoring_sessionmaker)
    after = ok(await scoring_client.get(SCORECARDS, params=params, headers=AUDITOR))
    annual_after = ok(
        await scoring_client.get("/v1/evaluation/annual", params={"year": 2026}, headers=AUDITOR)
    )

    assert after["policy"]["weight_agency"] == 0
    old = {card["unit_code"]: card for card in before["units"]}
    new = {card["unit_code"]: card for card in after["units"]}
    # Every unit already listed keeps every figure, its score and its rank.
    assert {code: without_agency(new[code]) for code in old} == {
        code: without_agency(card) for code, card in old.items()
    }
    assert new[JT]["score"] == 74.64
    assert {k: v for k, v in new[JT].items() if k != "rank"} == {
        **expected_jt(),
        "agency_due_in_period": 5,
        "agency_on_time": {"numerator": 2, "denominator": 4, "rate": 0.5, "pending": 1},
    }
    # A unit holding steps only is listed, unscored: its only rate has no weight.
    assert (new[ZJ]["score"], new[ZJ]["rank"], new[ZJ]["agency_on_time"]["rate"]) == (
        None, None, 1.0
    )  # fmt: skip
    assert before["top"] == after["top"]
    assert before["bottom"] == after["bottom"]
    old_annual = {e["unit_code"]: e["score"] for e in annual_before["units"]}
    new_annual = {e["unit_code"]: e["score"] for e in annual_after["units"]}
    assert new_annual == {**old_annual, ZJ: None}


async def test_a_positive_agency_weight_counts_the_steps(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    await october(scoring_sessionmaker)
    await jt_steps(scoring_sessionmaker)
    policy = ok(await scoring_client.put("/v1/evaluation/policy/2026-10",
                                         json={"weight_agency": 20}, headers=LEADER))  # fmt: skip
    assert (policy["weight_agency"], policy["weight_on_time"]) == (20, 30)
    body = ok(await scoring_client.get(SCORECARDS, params={"month": "2026-10"}, headers=AUDITOR))
    assert [(u["unit_code"], u["rank"], u["score"]) for u in body["units"]] == [
        (GH, 1, 100.0), (ZJ, 1, 100.0), (GM, 3, 80.0), (JT, 4, 70.12), (FG, None, None)
    ]  # fmt: skip
    jt = next(u for u in body["units"] if u["unit_code"] == JT)
    assert (jt["base_score"], jt["deductions"]) == (72.62, 2.5)

    annual = ok(
        await scoring_client.get("/v1/evaluation/annual", params={"year": 2026}, headers=AUDITOR)
    )
    jt_year = next(e for e in annual["units"] if e["unit_code"] == JT)
    assert [m["score"] for m in jt_year["months"]][8:11] == [14.29, 70.12, 0.0]
    assert jt_year["score"] == 28.14

    export = await scoring_client.get(
        f"{SCORECARDS}/export", params={"month": "2026-10", "format": "csv"}, headers=AUDITOR
    )
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    jt_row = next(row for row in rows if row["单位编码"] == JT)
    assert (jt_row["代办事项应办结数"], jt_row["代办事项按时办结数"]) == ("5", "2")
    assert jt_row["办件按时率(代办事项)"] == "50.00%"
    assert jt_row["得分"] == "70.12"


async def test_a_closed_month_keeps_its_agency_weight(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    await october(scoring_sessionmaker)
    await jt_steps(scoring_sessionmaker)
    ok(await scoring_client.put("/v1/evaluation/policy/2026-10", json={"weight_agency": 20},
                                headers=LEADER))  # fmt: skip
    ok(await scoring_client.post("/v1/evaluation/months/2026-10/close", headers=ADMIN), 201)
    ok(await scoring_client.put("/v1/evaluation/policy/2026-10", json={"weight_agency": 0},
                                headers=LEADER))  # fmt: skip
    body = ok(await scoring_client.get(SCORECARDS, params={"month": "2026-10"}, headers=AUDITOR))
    assert body["closed"] is True
    assert body["policy"]["weight_agency"] == 20
    jt = next(u for u in body["units"] if u["unit_code"] == JT)
    assert (jt["score"], jt["agency_on_time"]["rate"]) == (70.12, 0.5)


def test_months_closed_before_the_agency_weight_read_it_as_zero() -> None:
    policy = {"weight_sign": 10, "weight_on_time": 30, "weight_satisfaction": 40,
              "weight_resolution": 20, "basic_satisfaction_k": 1, "deduction_listed": 2,
              "deduction_escalated": 5, "deduction_red": 0.5}  # fmt: skip
    close = MonthlyScorecardClose(month="2026-09", version=1, action="close", policy=policy,
                                  closed_by="admin", closed_at=sh(10, 1))  # fmt: skip
    assert frozen_weights(close).weight_agency == 0.0
