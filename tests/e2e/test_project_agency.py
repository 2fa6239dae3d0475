"""A project driven from 签约 to 建成投用 through the real APIs and workers (issue 18, "Done when"):
steps dispatched in prerequisite order with exact working-day deadlines, a step overdue climbing
the supervision ladder, a blocker raised as a request that is verified, supervised, rated and
archived, the enterprise following and rating its project through intake, and the scorecard and
statistics figures worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from routing_service.models import Card
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.calendar import SHANGHAI, default_calendar
from tests.e2e.test_routing_loop import eventually
from tests.fixtures.org import Org
from tests.fixtures.processes import ServiceStack
from tests.routing_service.assignment.helpers import ok
from tests.routing_service.project.test_agency import CATALOGUE
from tests.routing_service.project.test_projects import project

pytestmark = pytest.mark.slow


def steps_by_code(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["procedure_code"]: s for s in steps}


def due_after(dispatched_at: str, days: int) -> datetime:
    return default_calendar().add_working_days(datetime.fromisoformat(dispatched_at), days).due_at


async def test_a_project_from_signing_to_completion(
    full_stack: ServiceStack, org: Org, routing_sessionmaker: AsyncSessionMaker
) -> None:
    center, agent = org.auth("gm_dispatcher"), org.auth("gm_operator")
    async with (
        httpx.AsyncClient(base_url=full_stack.url("routing"), timeout=15) as routing,
        httpx.AsyncClient(base_url=full_stack.url("intake"), timeout=15) as intake,
        httpx.AsyncClient(base_url=full_stack.url("scoring"), timeout=15) as scoring,
    ):

        async def finish(card_id: str, liaison: str) -> None:
            await ok(await routing.post(f"/v1/cards/{card_id}/sign", headers=org.auth(liaison)))
            await ok(await routing.post(f"/v1/cards/{card_id}/complete", headers=org.auth(liaison),
                                        json={"result": "已办结"}))  # fmt: skip
            await ok(await routing.post(f"/v1/cards/{card_id}/review", headers=center,
                                        json={"accept": True}))  # fmt: skip

        async def plan() -> dict[str, dict[str, Any]]:
            return steps_by_code(await ok(await routing.get(steps_url, headers=agent)))

        await ok(
            await routing.post("/v1/procedures/import", headers=org.auth("admin"), json=CATALOGUE)
        )
        created = await ok(await routing.post("/v1/projects", headers=center,
                                              json=project(stage="signed")), 201)  # fmt: skip
        pid, tracking_no = created["id"], created["tracking_no"]
        owner = {"X-Tracking-Secret": created["tracking_secret"]}
        steps_url = f"/v1/projects/{pid}/steps"

        # 签约: the plan. Filing is done at the counter; pre-review (12 promised of 20) and power
        # (15) start at once; land supply waits for pre-review, the certificate for land supply.
        await ok(await routing.post(steps_url, headers=agent, json={"steps": [
            {"procedure_code": "filing", "on_spot": True},
            {"procedure_code": "land-pre-review", "limit_days": 12},
            {"procedure_code": "power"},
            {"procedure_code": "land-supply"},
            {"procedure_code": "property-certificate"},
        ]}), 201)  # fmt: skip
        steps = await plan()
        assert [steps[c]["status"] for c in ("filing", "land-pre-review", "power", "land-supply",
                                             "property-certificate")] == [
            "done", "in_progress", "in_progress", "waiting", "waiting"]  # fmt: skip
        for code, days in (("land-pre-review", 12), ("power", 15)):
            card = steps[code]["card"]
            assert datetime.fromisoformat(card["due_at"]) == due_after(
                steps[code]["dispatched_at"], days
            )

        # The enterprise follows it through intake with its secret.
        seen = await ok(await intake.get(f"/v1/projects/{tracking_no}", headers=owner))
        assert [s["status"] for s in seen["steps"]] == [
            "done",
            "in_progress",
            "in_progress",
            "waiting",
            "waiting",
        ]
        assert (
            await intake.get(f"/v1/projects/{tracking_no}", headers={"X-Tracking-Secret": "nope"})
        ).status_code == 404

        # Pre-review done on the day; land supply starts with its 30 working days.
        await finish(steps["land-pre-review"]["card"]["id"], "gh_liaison")
        steps = await plan()
        supply = steps["land-supply"]
        assert supply["status"] == "in_progress"
        assert datetime.fromisoformat(supply["card"]["due_at"]) == due_after(
            supply["dispatched_at"], 30
        )
        assert steps["property-certificate"]["status"] == "waiting"

        # Power: signed, then its clock put five working days back and its deadline just past,
        # so the ladder has work; the supervision worker climbs it (yellow, then red).
        power = steps["power"]["card"]["id"]
        await ok(await routing.post(f"/v1/cards/{power}/sign", headers=org.auth("gd_liaison")))
        now = utcnow()
        dispatched = now - timedelta(days=7)
        past_due = now - timedelta(minutes=1)
        async with routing_sessionmaker() as session:
            await session.execute(update(Card).where(Card.id == power).values(
                dispatched_at=dispatched, clock_start_at=dispatched, due_at=past_due,
                original_due_at=past_due, next_check_at=now - timedelta(minutes=2),
            ))  # fmt: skip
            await session.commit()

        async def power_red() -> Any:
            card = (await plan())["power"]["card"]
            return card if card["supervision_level"] == "red" else None

        red = await eventually(power_red, timeout=30)
        assert red["overdue"] is True
        late = await ok(await routing.get("/v1/projects", headers=agent, params={"overdue": True}))
        assert [p["id"] for p in late["items"]] == [pid]
        # Done late: the step counts as not on time for 供电公司.
        await ok(await routing.post(f"/v1/cards/{power}/complete", headers=org.auth("gd_liaison"),
                                    json={"result": "已接入10kV专线"}))  # fmt: skip
        await ok(
            await routing.post(f"/v1/cards/{power}/review", headers=center, json={"accept": True})
        )

        # A blocker: the power capacity of phase two, raised as the enterprise's request.
        raised = await ok(await routing.post(f"/v1/projects/{pid}/blockers", headers=agent, json={
            "title": "二期用电容量不足", "description": "二期项目需新增用电容量2000千伏安,现有线路不足",
            "topic": "electricity",
        }), 201)  # fmt: skip
        blocker_no = raised["tracking_no"]

        async def blocker_case() -> Any:
            found = await routing.get(
                f"/v1/cases/by-tracking/{blocker_no}", headers=org.auth("hs_operator")
            )
            return found.json() if found.status_code == 200 else None

        case = await eventually(blocker_case)
        assert case["channel"] == "agency"
        await ok(await routing.post(f"/v1/cases/{case['id']}/verify", headers=org.auth("hs_operator"),
                                    json={"decision": "accept", "classification": "general"}))  # fmt: skip
        dispatched_case = await ok(await routing.post(f"/v1/cases/{case['id']}/dispatch", headers=org.auth("hs_dispatcher"),
                                                      json={"units": [{"unit_code": "DEPT-GD"}]}))  # fmt: skip
        blocker_card = dispatched_case["cards"][0]
        await ok(
            await routing.post(
                f"/v1/cards/{blocker_card['id']}/sign", headers=org.auth("gd_liaison")
            )
        )
        await ok(await routing.post(f"/v1/cards/{blocker_card['id']}/complete", headers=org.auth("gd_liaison"),
                                    json={"result": "已新建专线,扩容2000千伏安"}))  # fmt: skip
        await ok(await routing.post(f"/v1/cards/{blocker_card['id']}/review", headers=org.auth("hs_dispatcher"),
                                    json={"accept": True}))  # fmt: skip

        async def blocker_completed() -> Any:
            view = (await intake.get(f"/v1/requests/{blocker_no}",
                                     headers={"X-Tracking-Secret": raised["tracking_secret"]})).json()  # fmt: skip
            return view["status"] == "completed"

        await eventually(blocker_completed)

        async def rate_blocker() -> Any:
            answer = await intake.post(f"/v1/requests/{blocker_no}/rating",
                                       headers={"X-Tracking-Secret": raised["tracking_secret"]},
                                       json={"satisfaction": "satisfied", "resolved": True})  # fmt: skip
            return answer.status_code in (200, 201)

        await eventually(rate_blocker)

        async def blocker_closed() -> Any:
            blockers = await ok(await routing.get(f"/v1/projects/{pid}/blockers", headers=agent))
            return blockers[0]["case_status"] == "closed"

        await eventually(blocker_closed)

        # 开工 → the enterprise rates the agency service; 续建; 建成投用 closes the plan.
        stage_url = f"/v1/projects/{pid}/stage"
        await ok(await routing.post(stage_url, headers=agent, json={"stage": "started"}))

        async def rate_started() -> Any:
            answer = await intake.post(f"/v1/projects/{tracking_no}/ratings", headers=owner,
                                       json={"milestone": "started", "satisfaction": "satisfied"})  # fmt: skip
            return answer.json() if answer.status_code == 201 else None

        rating = await eventually(rate_started)
        assert rating["milestone"] == "started"
        await ok(await routing.post(stage_url, headers=agent, json={"stage": "continuing"}))
        await ok(await routing.post(stage_url, headers=agent, json={"stage": "completed"}))
        steps = await plan()
        assert steps["land-supply"]["status"] == "cancelled"
        assert steps["property-certificate"]["status"] == "cancelled"

        async def rate_completed() -> Any:
            answer = await intake.post(f"/v1/projects/{tracking_no}/ratings", headers=owner,
                                       json={"milestone": "completed", "satisfaction": "basic"})  # fmt: skip
            return answer.status_code == 201

        await eventually(rate_completed)

        # Scorecards (this month), by hand. 供电公司: its one step was due this month and done
        # late (0 of 1 on time); the blocker is an ordinary card, outside the agency rate.
        this_month = utcnow().astimezone(SHANGHAI).strftime("%Y-%m")

        async def gd_card() -> Any:
            card = await ok(await scoring.get("/v1/evaluation/scorecards/DEPT-GD", headers=org.auth("hs_leader"),
                                              params={"month": this_month}))  # fmt: skip
            return card if card["agency_due_in_period"] == 1 else None

        gd = await eventually(gd_card)
        assert gd["agency_on_time"]["numerator"] == 0
        assert gd["agency_on_time"]["denominator"] == 1
        assert gd["agency_on_time"]["rate"] == 0.0

        # Statistics for the year so far: three steps done (filing on the spot, pre-review and
        # power); used = 0 + 0 + power's working days; allowed = the legal limits 5 + 20 + 15.
        power_used = default_calendar().working_days_between(dispatched, utcnow())

        async def figures() -> Any:
            stats = await ok(await scoring.get("/v1/statistics", headers=org.auth("hs_leader")))
            projects = stats["projects"]
            return (
                projects
                if projects["completed"] == 1 and projects["satisfaction"]["ratings"] == 2
                else None
            )

        projects = await eventually(figures)
        assert (projects["started"], projects["continuing"], projects["completed"]) == (1, 1, 1)
        assert projects["served"]["total"] == 1
        assert projects["served"]["by_level"]["city"] == 1
        assert projects["served"]["by_stage"]["completed"] == 1
        steps_figures = projects["steps"]
        assert (steps_figures["done"], steps_figures["done_on_spot"]) == (3, 1)
        assert steps_figures["working_days_allowed"] == 40
        assert steps_figures["working_days_used"] == power_used
        assert steps_figures["time_ratio"] == round(power_used / 40, 4)
        assert projects["satisfaction"]["satisfied"] == 1
        assert projects["satisfaction"]["basic"] == 1

        # Both chains are intact.
        check = await ok(
            await routing.get(f"/v1/projects/{pid}/history/verify", headers=org.auth("auditor"))
        )
        assert check["valid"] is True
