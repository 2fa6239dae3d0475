"""The agency plan (代办事项) through the API: steps as cards, dispatched in prerequisite order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from routing_service.models import Card, Case, ProjectStep
from services.auth import service_token
from services.db import AsyncSessionMaker
from shared.calendar import default_calendar
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import ok
from tests.routing_service.project.test_projects import project

CATALOGUE = {
    "procedures": [
        {"code": "filing", "name": "项目备案", "unit_code": "DEPT-FG", "time_limit_days": 5},
        {"code": "land-pre-review", "name": "用地预审与选址", "unit_code": "DEPT-GH",
         "time_limit_days": 20, "prerequisites": ["filing"]},
        {"code": "land-supply", "name": "土地出让", "unit_code": "DEPT-GH", "time_limit_days": 30,
         "prerequisites": ["land-pre-review"]},
        {"code": "property-certificate", "name": "不动产权证", "unit_code": "DEPT-GH",
         "time_limit_days": 5, "prerequisites": ["land-supply"]},
        {"code": "power", "name": "供电接入", "unit_code": "DEPT-GD", "time_limit_days": 15,
         "prerequisites": ["filing"]},
        {"code": "road", "name": "道路整修", "unit_code": "DEPT-JT", "time_limit_days": 30,
         "prerequisites": ["land-supply"]},
        {"code": "gas", "name": "燃气接入", "time_limit_days": 10, "prerequisites": ["filing"]},
        {"code": "retired", "name": "已停用事项", "unit_code": "DEPT-FG", "time_limit_days": 5,
         "active": False},
    ]
}  # fmt: skip


@pytest.fixture
async def project_id(routing_client: httpx.AsyncClient, org: Org) -> str:
    await ok(
        await routing_client.post(
            "/v1/procedures/import", headers=org.auth("admin"), json=CATALOGUE
        )
    )
    created = await ok(await routing_client.post("/v1/projects", headers=org.auth("gm_dispatcher"),
                                                 json=project(stage="signed")), 201)  # fmt: skip
    assert created["tracking_no"].startswith("XM")
    assert created["tracking_secret"]
    return str(created["id"])


def by_code(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["procedure_code"]: s for s in steps}


async def finish(client: httpx.AsyncClient, org: Org, card_id: str, liaison: str) -> None:
    await ok(await client.post(f"/v1/cards/{card_id}/sign", headers=org.auth(liaison)))
    await ok(await client.post(f"/v1/cards/{card_id}/complete", headers=org.auth(liaison),
                               json={"result": "已办结,证照已发放"}))  # fmt: skip
    await ok(await client.post(f"/v1/cards/{card_id}/review", headers=org.auth("gm_dispatcher"),
                               json={"accept": True}))  # fmt: skip


async def test_steps_are_cards_dispatched_in_prerequisite_order(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org,
    project_id: str,
) -> None:  # fmt: skip
    steps_url = f"/v1/projects/{project_id}/steps"
    plan = {"steps": [
        {"procedure_code": "land-supply"},
        {"procedure_code": "land-pre-review", "limit_days": 12},
        {"procedure_code": "filing", "on_spot": True, "result": "备案当场办结"},
        {"procedure_code": "power"},
        {"procedure_code": "property-certificate"},
    ]}  # fmt: skip
    answer = await routing_client.post(steps_url, headers=org.auth("gm_operator"), json=plan)
    steps = by_code(await ok(answer, 201))
    assert answer.headers["location"].endswith(steps_url)
    # Done on the spot: its card is approved already, in no working days.
    assert steps["filing"]["status"] == "done"
    assert steps["filing"]["on_spot"] is True
    assert steps["filing"]["card"]["status"] == "approved"
    assert steps["filing"]["working_days_used"] == 0
    # Its dependants start at once, with the deadline in working days from dispatch; the
    # promised 12 days instead of the legal 20.
    for code, days in (("land-pre-review", 12), ("power", 15)):
        step = steps[code]
        assert step["status"] == "in_progress"
        assert step["card"]["status"] == "dispatched"
        dispatched = datetime.fromisoformat(step["dispatched_at"])
        expected = default_calendar().add_working_days(dispatched, days).due_at
        assert datetime.fromisoformat(step["card"]["due_at"]) == expected
    assert steps["land-supply"]["status"] == "waiting"
    assert steps["land-supply"]["waiting_for"] == ["land-pre-review"]
    assert steps["property-certificate"]["waiting_for"] == ["land-supply"]
    assert steps["property-certificate"]["card"] is None

    # One agency case holds every step's card; it is not a request.
    async with routing_sessionmaker() as session:
        cases = (await session.scalars(select(Case).where(Case.project_id == project_id))).all()
        assert [(c.project_role, c.channel, c.status) for c in cases] == [
            ("plan", "agency", "in_progress")
        ]
        roles = (
            await session.scalars(select(Card.role).where(Card.project_id == project_id))
        ).all()
        assert sorted(roles) == ["step", "step", "step"]
    # The plan is not a complaint: it is never transferred to the discipline commission.
    transfer = await routing_client.post(f"/v1/cases/{cases[0].id}/transfer", headers=org.auth("hs_leader"),
                                         json={"reason": "涉嫌吃拿卡要"})  # fmt: skip
    assert transfer.status_code == 409, transfer.text
    assert transfer.json()["error"]["code"] == "illegal_transition"

    # The department sees the project and its own step only.
    mine = await ok(await routing_client.get(steps_url, headers=org.auth("gd_liaison")))
    assert [s["procedure_code"] for s in mine] == ["power"]
    listed = await ok(await routing_client.get("/v1/projects", headers=org.auth("gd_liaison")))
    assert [p["id"] for p in listed["items"]] == [project_id]
    assert (await routing_client.get("/v1/projects", headers=org.auth("jt_liaison"))).json()[
        "items"
    ] == []

    # The agent records a document handed over; the department sees it on its card.
    pre_review = steps["land-pre-review"]
    record = await routing_client.post(
        f"{steps_url}/{pre_review['id']}/records", headers=org.auth("gm_operator"),
        json={"kind": "document", "text": "已向自然资源局递交用地预审申请材料一套"},
    )  # fmt: skip
    assert (await ok(record, 201))["kind"] == "document"

    # The department completes land pre-review; the center approves; land supply starts.
    await finish(routing_client, org, pre_review["card"]["id"], "gh_liaison")
    steps = by_code(await ok(await routing_client.get(steps_url, headers=org.auth("gm_operator"))))
    assert steps["land-pre-review"]["status"] == "done"
    assert steps["land-pre-review"]["records"][0]["text"].startswith("已向自然资源局")
    assert steps["land-supply"]["status"] == "in_progress"
    assert steps["property-certificate"]["status"] == "waiting"

    # Land supply is returned by its department: it waits at the center, the rest carries on.
    supply = steps["land-supply"]
    await ok(await routing_client.post(f"/v1/cards/{supply['card']['id']}/return", headers=org.auth("gh_liaison"),
                                       json={"reason": "该地块出让由市局负责,请改派"}))  # fmt: skip
    steps = by_code(await ok(await routing_client.get(steps_url, headers=org.auth("gm_operator"))))
    assert steps["land-supply"]["status"] == "returned"
    assert steps["power"]["status"] == "in_progress"
    again = await ok(await routing_client.post(f"{steps_url}/{supply['id']}/dispatch",
                                               headers=org.auth("gm_dispatcher"), json={}))  # fmt: skip
    assert again["status"] == "in_progress"
    assert again["card"]["id"] != supply["card"]["id"]

    # Overdue filter: nothing is late yet.
    late = await ok(await routing_client.get("/v1/projects", headers=org.auth("gm_operator"),
                                             params={"overdue": True}))  # fmt: skip
    assert late["items"] == []
    on_time = await ok(await routing_client.get("/v1/projects", headers=org.auth("gm_operator"),
                                                params={"overdue": False}))  # fmt: skip
    assert [p["id"] for p in on_time["items"]] == [project_id]

    # Dropping a step lets its dependants start.
    await ok(await routing_client.post(f"{steps_url}/{again['id']}/cancel", headers=org.auth("gm_dispatcher"),
                                       json={"reason": "土地已由企业自行取得"}))  # fmt: skip
    steps = by_code(await ok(await routing_client.get(steps_url, headers=org.auth("gm_operator"))))
    assert steps["land-supply"]["status"] == "cancelled"
    assert steps["property-certificate"]["status"] == "in_progress"

    # The project's history records the plan; both chains verify.
    detail = await ok(
        await routing_client.get(f"/v1/projects/{project_id}", headers=org.auth("gm_operator"))
    )
    actions = [e["action"] for e in detail["history"]]
    assert actions.count("plan") == 1
    assert "step.done" in actions
    assert "step.returned" in actions
    check = await ok(await routing_client.get(f"/v1/projects/{project_id}/history/verify",
                                              headers=org.auth("auditor")))  # fmt: skip
    assert check["valid"] is True


async def test_bad_plans_write_nothing(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org,
    project_id: str,
) -> None:  # fmt: skip
    steps_url = f"/v1/projects/{project_id}/steps"
    h = org.auth("gm_dispatcher")
    bad = [
        ({"procedure_code": "nope"}, 422, "step_procedure_invalid"),
        ({"procedure_code": "retired"}, 422, "step_procedure_invalid"),
        ({"procedure_code": "gas"}, 422, "step_unit_missing"),
        ({"procedure_code": "power", "unit_code": "JW"}, 422, "responsible_unit_invalid"),
        ({"procedure_code": "power", "limit_days": 16}, 422, "step_limit_exceeds_legal"),
        ({"procedure_code": "land-pre-review", "on_spot": True}, 409, "prerequisites_pending"),
    ]
    for step, status, code in bad:
        # a valid step beside the bad one: all or nothing
        r = await routing_client.post(
            steps_url, headers=h, json={"steps": [{"procedure_code": "filing"}, step]}
        )
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code
    twice = await routing_client.post(
        steps_url, headers=h, json={"steps": [{"procedure_code": "filing"}] * 2}
    )
    assert twice.json()["error"]["code"] == "step_exists"
    async with routing_sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ProjectStep)) == 0
        assert await session.scalar(select(func.count()).select_from(Card)) == 0
    await ok(
        await routing_client.post(
            steps_url, headers=h, json={"steps": [{"procedure_code": "filing"}]}
        ),
        201,
    )
    again = await routing_client.post(
        steps_url, headers=h, json={"steps": [{"procedure_code": "filing"}]}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "step_exists"
    # other scopes: another street's staff and a department do not plan
    other = await routing_client.post(steps_url, headers=org.auth("yq_operator"),
                                      json={"steps": [{"procedure_code": "power"}]})  # fmt: skip
    assert other.status_code == 404
    dept = await routing_client.post(steps_url, headers=org.auth("fg_liaison"),
                                     json={"steps": [{"procedure_code": "power"}]})  # fmt: skip
    assert dept.status_code == 403
    # a terminated project takes no steps, and its open cards are cancelled
    await ok(await routing_client.post(f"/v1/projects/{project_id}/stage", headers=h,
                                       json={"stage": "terminated", "reason": "企业撤资"}))  # fmt: skip
    late = await routing_client.post(
        steps_url, headers=h, json={"steps": [{"procedure_code": "power"}]}
    )
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "project_not_active"
    steps = await ok(await routing_client.get(steps_url, headers=h))
    assert [s["status"] for s in steps] == ["cancelled"]
    assert steps[0]["card"]["status"] == "cancelled"


async def test_enterprise_progress_needs_the_secret(
    routing_client: httpx.AsyncClient, org: Org
) -> None:
    await ok(
        await routing_client.post(
            "/v1/procedures/import", headers=org.auth("admin"), json=CATALOGUE
        )
    )
    created = await ok(await routing_client.post("/v1/projects", headers=org.auth("gm_dispatcher"),
                                                 json=project(stage="signed")), 201)  # fmt: skip
    await ok(await routing_client.post(f"/v1/projects/{created['id']}/steps", headers=org.auth("gm_dispatcher"),
                                       json={"steps": [{"procedure_code": "filing"}]}), 201)  # fmt: skip
    url = f"/v1/projects/tracking/{created['tracking_no']}"
    service = {"Authorization": f"Bearer {service_token('intake')}"}
    seen = await ok(
        await routing_client.get(
            url, headers={**service, "X-Tracking-Secret": created["tracking_secret"]}
        )
    )
    assert seen["stage"] == "signed"
    assert seen["ratable"] == []
    assert [(s["name"], s["unit_name"], s["status"]) for s in seen["steps"]] == [
        ("项目备案", "区发展和改革局", "in_progress")
    ]
    assert "contact" not in seen
    assert "13812345678" not in str(seen)
    wrong = await routing_client.get(url, headers={**service, "X-Tracking-Secret": "guess"})
    assert wrong.status_code == 404
    assert wrong.json()["error"]["code"] == "project_not_found"
    staff = await routing_client.get(
        url, headers={**org.auth("admin"), "X-Tracking-Secret": created["tracking_secret"]}
    )
    assert staff.status_code == 403
    # a new secret replaces the old one
    fresh = await ok(await routing_client.post(f"/v1/projects/{created['id']}/tracking-secret",
                                               headers=org.auth("gm_dispatcher")))  # fmt: skip
    old = await routing_client.get(
        url, headers={**service, "X-Tracking-Secret": created["tracking_secret"]}
    )
    assert old.status_code == 404
    await ok(
        await routing_client.get(
            url, headers={**service, "X-Tracking-Secret": fresh["tracking_secret"]}
        )
    )
