"""The 帮办代办 section of the staff and public statistics, October 2026 ("now" 20 November).

Projects (stage dates are the days a stage was reached):
  P1 city, created 1 Sep, 开工 12 Oct                     served, started in October
  P2 provincial, created 1 Jun, 开工 1 Jul, 续建 20 Oct    served, continuing in October
  P3 district, created 1 Mar, 开工 1 Apr, 续建 1 Jun, 建成投用 28 Oct (its older revision
     arrives late and changes nothing)                    served, completed in October
  P4 general, created 5 Oct, planned                      served
  P5 general, created 1 Feb, terminated 15 Sep            not served (ended before October)
  P6 city, created 1 May, terminated 10 Oct               served (as terminated)
  P7 city, created 2 Nov                                  not served (after October)
  -> served 5: provincial 1, city 2, district 1, general 1; by current stage started 1,
     continuing 1, completed 1, planned 1, terminated 1.
Steps:
  a approved 15 Oct, 3 of 5 days, due 16 Oct, submitted 14 Oct      done, on time
  b on the spot 20 Oct, 0 of 1 day                                  done, on the spot, on time
  c approved 29 Oct, 12 of 10 days, due 27 Oct, submitted 28 Oct    done, late
  d approved 30 Oct, days unknown, due 5 Nov                        done, not measured
  e due 31 Oct, never submitted                                     overdue
  f suspended, due 25 Oct                                           pending
  g approved 28 Sep; h returned, due 22 Oct; a case card approved in October: none count
  -> done 4, on the spot 1, on time 2 / (5 - 1 pending) = 0.5; measured a b c: used 15,
     allowed 16, ratio 0.9375, 5.0 days per step against 5.33 allowed.
Ratings in October: P1 开工 satisfied, P2 开工 basic, P3 建成投用 unsatisfied (P3 开工, rated
  in September, is not counted) -> (1 + k x 1) / 3: 0.6667 with k = 1, 0.5 with k = 0.5.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
import pytest

from services.db import AsyncSessionMaker
from shared.enums import CardRole, CardStatus, ProjectLevel, ProjectStage
from tests.scoring_service.evaluation.helpers import token
from tests.scoring_service.projects.helpers import (
    envelope,
    feed,
    project,
    relay,
    sh,
    step,
)

pytestmark = pytest.mark.usefixtures("frozen_now")

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31"}
AUDITOR = token("auditor")
S = ProjectStage


async def build(
    client: httpx.AsyncClient, sessionmaker: AsyncSessionMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    p1 = project(stage=S.started, created=sh(9, 1), reached={S.started: date(2026, 10, 12)})
    p2 = project(
        level=ProjectLevel.provincial,
        stage=S.continuing,
        created=sh(6, 1),
        reached={S.started: date(2026, 7, 1), S.continuing: date(2026, 10, 20)},
    )
    p3_dates = {S.started: date(2026, 4, 1), S.continuing: date(2026, 6, 1)}
    p3 = project(
        level=ProjectLevel.district,
        stage=S.completed,
        created=sh(3, 1),
        revision=3,
        reached={**p3_dates, S.completed: date(2026, 10, 28)},
    )
    p3_old = project(
        level=ProjectLevel.district,
        stage=S.continuing,
        created=sh(3, 1),
        revision=2,
        reached=p3_dates,
        project_id=p3.project_id,
        tracking_no=p3.tracking_no,
    )
    p4 = project(level=ProjectLevel.general, created=sh(10, 5))
    p5 = project(level=ProjectLevel.general, stage=S.terminated, created=sh(2, 1))
    p6 = project(stage=S.terminated, created=sh(5, 1))
    p7 = project(created=sh(11, 2))
    await feed(
        sessionmaker,
        envelope(p1), envelope(p2), envelope(p3), envelope(p3_old), envelope(p4),
        envelope(p5, sh(9, 15)), envelope(p6, sh(10, 10)), envelope(p7),
        envelope(step(dispatched=sh(10, 9), due=sh(10, 16, 17, 30), submitted=sh(10, 14),
                      approved=sh(10, 15), working_days=3, limit_days=5)),
        envelope(step(dispatched=sh(10, 20), due=sh(10, 20, 17, 30), submitted=sh(10, 20),
                      approved=sh(10, 20), working_days=0, limit_days=1, on_spot=True)),
        envelope(step(dispatched=sh(10, 12), due=sh(10, 27, 17, 30), submitted=sh(10, 28),
                      approved=sh(10, 29), working_days=12, limit_days=10)),
        envelope(step(dispatched=sh(10, 26), due=sh(11, 5, 17, 30), submitted=sh(10, 30),
                      approved=sh(10, 30), working_days=None, limit_days=5)),
        envelope(step(status=CardStatus.signed, dispatched=sh(10, 20), due=sh(10, 31, 12))),
        envelope(step(status=CardStatus.suspended, dispatched=sh(10, 15), due=sh(10, 25, 17))),
        envelope(step(dispatched=sh(9, 20), due=sh(9, 30), submitted=sh(9, 27),
                      approved=sh(9, 28), working_days=5, limit_days=5)),
        envelope(step(status=CardStatus.returned, dispatched=sh(10, 15), due=sh(10, 22),
                      returned=sh(10, 16))),
        envelope(step(role=CardRole.single, dispatched=sh(10, 9), due=sh(10, 16),
                      submitted=sh(10, 14), approved=sh(10, 15), working_days=3)),
    )  # fmt: skip

    async def rate(snapshot: Any, milestone: str, satisfaction: str, at: datetime) -> None:
        monkeypatch.setattr("scoring_service.projects.service.utcnow", lambda: at)
        body = {"tracking_no": snapshot.tracking_no, "milestone": milestone,
                "satisfaction": satisfaction}  # fmt: skip
        rated = await client.post("/v1/project-ratings/by-platform", headers=relay(), json=body)
        assert rated.status_code == 201, rated.text

    await rate(p1, "started", "satisfied", sh(10, 13))
    await rate(p2, "started", "basic", sh(10, 21))
    await rate(p3, "completed", "unsatisfied", sh(10, 29))
    await rate(p3, "started", "satisfied", sh(9, 5))


def expected(rate: float) -> dict[str, Any]:
    return {
        "served": {
            "total": 5,
            "by_level": {"provincial": 1, "city": 2, "district": 1, "general": 1},
            "by_stage": {"planned": 1, "signed": 0, "started": 1, "continuing": 1,
                         "completed": 1, "paused": 0, "terminated": 1},
        },
        "started": 1,
        "continuing": 1,
        "completed": 1,
        "steps": {
            "done": 4,
            "done_on_spot": 1,
            "on_time": {"numerator": 2, "denominator": 4, "rate": 0.5, "pending": 1},
            "measured": 3,
            "working_days_used": 15,
            "working_days_allowed": 16,
            "time_ratio": 0.9375,
            "average_working_days": 5.0,
            "average_limit_days": 5.33,
        },
        "satisfaction": {"ratings": 3, "satisfied": 1, "basic": 1, "unsatisfied": 1,
                         "satisfaction_rate": rate},
    }  # fmt: skip


async def test_the_projects_section(
    scoring_client: httpx.AsyncClient,
    scoring_sessionmaker: AsyncSessionMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await build(scoring_client, scoring_sessionmaker, monkeypatch)
    staff = await scoring_client.get("/v1/statistics", params=OCTOBER, headers=AUDITOR)
    assert staff.status_code == 200, staff.text
    assert staff.json()["projects"] == expected(0.6667)

    public = await scoring_client.get("/v1/public/statistics", params=OCTOBER)
    assert public.status_code == 200, public.text
    assert public.json()["projects"] == staff.json()["projects"]
    for secret in ("年产十万吨新材料项目", "邯郸新材料", "91130400MA0PROJ01X", "XM"):
        assert secret not in public.text

    # k of the policy in force in the month of the end date weighs 基本满意, as for cases.
    leader = token("leader")
    put = await scoring_client.put("/v1/evaluation/policy/2026-10",
                                   json={"basic_satisfaction_k": 0.5}, headers=leader)  # fmt: skip
    assert put.status_code == 200, put.text
    again = await scoring_client.get("/v1/statistics", params=OCTOBER, headers=AUDITOR)
    assert again.json()["projects"] == expected(0.5)


async def test_a_day_and_an_empty_period(
    scoring_client: httpx.AsyncClient,
    scoring_sessionmaker: AsyncSessionMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await build(scoring_client, scoring_sessionmaker, monkeypatch)
    day = (await scoring_client.get("/v1/statistics", params={"start": "2026-10-20",
                                    "end": "2026-10-20"}, headers=AUDITOR)).json()["projects"]  # fmt: skip
    assert (day["continuing"], day["started"], day["completed"]) == (1, 0, 0)
    assert (day["steps"]["done"], day["steps"]["done_on_spot"]) == (1, 1)
    assert day["steps"]["on_time"] == {"numerator": 1, "denominator": 1, "rate": 1.0,
                                       "pending": 0}  # fmt: skip
    # Served on 20 October: P1-P4 (P6 was terminated on the 10th).
    assert day["served"]["total"] == 4
    empty = (await scoring_client.get("/v1/statistics", params={"start": "2025-01-01",
             "end": "2025-01-31"}, headers=AUDITOR)).json()["projects"]  # fmt: skip
    assert empty["served"]["total"] == 0
    assert empty["steps"]["on_time"]["rate"] is None
    assert (empty["steps"]["time_ratio"], empty["steps"]["average_working_days"]) == (None, None)
    assert empty["satisfaction"]["satisfaction_rate"] is None
