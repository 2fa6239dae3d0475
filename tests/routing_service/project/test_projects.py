"""Projects and the procedure catalogue through the API."""

from __future__ import annotations

from typing import Any

import httpx

from services.db import AsyncSessionMaker
from shared.identifiers import uscc_check_char
from tests.fixtures.org import Org

PREFIX = "91130404MA0EF0009"
USCC = PREFIX + uscc_check_char(PREFIX)


def project(**extra: Any) -> dict[str, Any]:
    body = {"name": "年产5万吨原料药项目", "enterprise_name": "邯郸某制药有限公司", "uscc": USCC,
            "investment": "35000", "area_unit_code": "HS-GM", "level": "city",
            "agent": "gm_operator", "contact": {"name": "李经理", "phone": "13812345678"}}  # fmt: skip
    return {**body, **extra}


async def test_project_stages_and_chain(routing_client: httpx.AsyncClient, org: Org) -> None:
    created = await routing_client.post("/v1/projects", headers=org.auth("gm_dispatcher"),
                                        json=project())  # fmt: skip
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert created.headers["location"].endswith(f"/v1/projects/{pid}")
    stage = f"/v1/projects/{pid}/stage"
    skip = await routing_client.post(
        stage, headers=org.auth("gm_dispatcher"), json={"stage": "started"}
    )
    assert skip.status_code == 409
    assert skip.json()["error"]["code"] == "invalid_stage_transition"
    for target in ("signed", "started"):
        r = await routing_client.post(
            stage, headers=org.auth("gm_operator"), json={"stage": target}
        )
        assert r.status_code == 200, r.text
    paused = await routing_client.post(
        stage, headers=org.auth("gm_dispatcher"), json={"stage": "paused"}
    )
    assert paused.json()["error"]["code"] == "stage_reason_required"
    r = await routing_client.post(stage, headers=org.auth("gm_dispatcher"),
                                  json={"stage": "paused", "reason": "用地指标未落实"})  # fmt: skip
    assert r.json()["paused_from"] == "started"
    wrong = await routing_client.post(
        stage, headers=org.auth("gm_dispatcher"), json={"stage": "signed"}
    )
    assert wrong.status_code == 409
    for target in ("started", "continuing", "completed"):
        r = await routing_client.post(
            stage, headers=org.auth("gm_dispatcher"), json={"stage": target}
        )
        assert r.status_code == 200, r.text
    final = await routing_client.post(stage, headers=org.auth("gm_dispatcher"),
                                      json={"stage": "terminated", "reason": "企业撤资"})  # fmt: skip
    assert final.json()["error"]["code"] == "project_stage_final"
    detail = (await routing_client.get(f"/v1/projects/{pid}", headers=org.auth("hs_leader"))).json()
    assert [e["to_status"] for e in detail["history"]] == [
        "planned",
        "signed",
        "started",
        "paused",
        "started",
        "continuing",
        "completed",
    ]
    check = await routing_client.get(
        f"/v1/projects/{pid}/history/verify", headers=org.auth("auditor")
    )
    assert check.json()["valid"] is True
    assert check.json()["events"] == 7
    # scope: another street does not see it; a department holding no step sees none
    assert (
        await routing_client.get(f"/v1/projects/{pid}", headers=org.auth("yq_operator"))
    ).status_code == 404
    dept = await routing_client.get("/v1/projects", headers=org.auth("jt_liaison"))
    assert dept.status_code == 200
    assert dept.json()["items"] == []
    assert (
        await routing_client.get(f"/v1/projects/{pid}", headers=org.auth("jt_liaison"))
    ).status_code == 404
    page = (await routing_client.get("/v1/projects", headers=org.auth("hs_operator"),
                                     params={"uscc": USCC, "stage": "completed", "with_total": True})).json()  # fmt: skip
    assert page["total"] == 1
    assert page["items"][0]["id"] == pid


async def test_bad_project_input(routing_client: httpx.AsyncClient, org: Org) -> None:
    h = org.auth("hs_dispatcher")
    bad = {
        "validation_error": [project(uscc="91130404MA0EF00090"), project(investment="-1"),
                             project(investment="20000000")],
        "area_unit_invalid": [project(area_unit_code="NOPE")],
        "agent_invalid": [project(agent="jt_liaison"), project(agent="nobody")],
        "stage_dates_out_of_order": [project(stage_dates={"signed": {"actual": "2026-05-01"},
                                                          "started": {"actual": "2026-04-01"}})],
    }  # fmt: skip
    for code, bodies in bad.items():
        for body in bodies:
            r = await routing_client.post("/v1/projects", headers=h, json=body)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == code, r.text
    assert (await routing_client.post("/v1/projects", headers=org.auth("jt_liaison"),
                                      json=project())).status_code == 403  # fmt: skip


async def test_catalogue(routing_client: httpx.AsyncClient, org: Org) -> None:
    admin = org.auth("admin")
    doc = {"procedures": [{"code": "a", "name": "项目备案", "unit_code": "DEPT-FG", "time_limit_days": 5},
                          {"code": "b", "name": "用地预审", "time_limit_days": 20, "prerequisites": ["a"]}]}  # fmt: skip
    r = await routing_client.post("/v1/procedures/import", headers=admin, json=doc)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    cycle = await routing_client.patch(
        "/v1/procedures/a", headers=admin, json={"prerequisites": ["b"]}
    )
    assert cycle.json()["error"]["code"] == "prerequisite_cycle"
    unknown = await routing_client.post(
        "/v1/procedures",
        headers=admin,
        json={"code": "c", "name": "施工许可", "time_limit_days": 7, "prerequisites": ["zz"]},
    )
    assert unknown.json()["error"]["code"] == "unknown_prerequisite"
    bad_doc = {"procedures": [{"code": "d", "name": "道路", "time_limit_days": 3, "prerequisites": ["e"]},
                              {"code": "e", "name": "管网", "time_limit_days": 3, "prerequisites": ["d"]}]}  # fmt: skip
    r = await routing_client.post("/v1/procedures/import", headers=admin, json=bad_doc)
    assert r.json()["error"]["code"] == "invalid_procedure_document"
    listed = (await routing_client.get("/v1/procedures", headers=org.auth("jt_liaison"))).json()
    assert [p["code"] for p in listed] == ["a", "b"]
    assert (
        await routing_client.post(
            "/v1/procedures",
            headers=org.auth("hs_leader"),
            json={"code": "x", "name": "燃气接入", "time_limit_days": 7},
        )
    ).status_code == 403


async def test_the_default_catalogue_seeds_on_the_seed_org(
    routing_sessionmaker: AsyncSessionMaker,
) -> None:
    from routing_service.department.loader import import_document, parse_document
    from routing_service.department.loader import seed_document as org_seed
    from routing_service.project.service import catalogue_service, seed_document

    async with routing_sessionmaker() as session:
        await import_document(session, parse_document(org_seed(), "application/yaml"))
        await catalogue_service.seed(session)
        await session.commit()
        procedures = await catalogue_service.procedures(session)
    codes = {p.code for p in procedures}
    assert codes == {p.code for p in seed_document().procedures}
    assert len(codes) == 12
    assert all(set(p.prerequisites) <= codes for p in procedures)
