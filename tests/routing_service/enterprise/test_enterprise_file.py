"""The enterprise file (一企一档) on routing, collecting intake's requests and visits and
scoring's ratings over REST: the three real apps, wired by ASGI transports mounted at the URLs
routing calls them by (no service is faked)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from routing_service.assignment.service import case_service
from routing_service.models import Card
from services.auth import service_token
from services.models import utcnow
from shared.enums import SubmitterKind
from shared.events import SubmitterInfo
from shared.identifiers import uscc_check_char
from tests.fixtures.loop import Loop
from tests.intake_service.issue.test_endpoints import submission
from tests.routing_service.assignment.helpers import ok, request_event, verify_and_dispatch
from tests.routing_service.enterprise.helpers import Refused, routing_calls


def uscc(serial: int) -> str:
    prefix = f"91130404MA0EF{serial:04d}"
    return prefix + uscc_check_char(prefix)


USCC = uscc(1)
OTHER = uscc(2)
OLD_NAME = "邯郸新兴国际物流有限公司"
NAME = "邯郸新兴国际物流集团有限公司"


def enterprise(name: str = OLD_NAME, code: str = USCC) -> dict[str, Any]:
    return {"kind": "enterprise", "name": "李经理", "phone": "13812345678", "uscc": code,
            "enterprise_name": name}  # fmt: skip


@pytest.fixture
async def wired(loop: Loop) -> AsyncIterator[Loop]:
    async with routing_calls():
        yield loop


async def visit_with_issue(loop: Loop) -> dict[str, Any]:
    intake, key = loop.intake, {"X-API-Key": loop.channel_key}
    station = await ok(await intake.post("/v1/cppcc/stations", headers=key,
                                         json={"name": "经济界别联络站", "sector": "经济界"}), 201)  # fmt: skip
    member = await ok(await intake.post("/v1/cppcc/members", headers=key,
                                        json={"name": "张骞", "station_id": station["id"]}), 201)  # fmt: skip
    return await ok(  # type: ignore[no-any-return]
        await intake.post("/v1/cppcc/visits", headers=key, json={
            "member_id": member["id"], "target_kind": "enterprise", "target_name": OLD_NAME,
            "uscc": USCC, "area_code": "HS-GM", "visited_on": str(utcnow().date()),
            "findings": "企业反映用电报装周期长",
            "issues": [{"type": "help", "topic": "electricity", "title": "用电报装周期长",
                        "description": "新厂房用电报装已两个月未接电,影响投产。",
                        "contact": {"name": "李经理", "phone": "13812345678"}}],
        }),
        201,
    )  # fmt: skip


async def case_by_tracking(loop: Loop, tracking_no: str) -> dict[str, Any]:
    return await ok(  # type: ignore[no-any-return]
        await loop.routing.get(
            f"/v1/cases/by-tracking/{tracking_no}", headers=loop.org.auth("hs_operator")
        )
    )


@pytest.fixture
async def seeded(wired: Loop) -> dict[str, Any]:
    """One enterprise: a 165 visit with an issue (pending), a request dispatched to 区交通运输局,
    done and rated satisfied, a later request (under its new name) dispatched to 光明路街道 and
    overdue; its confidential 举报 dispatched to 区交通运输局; another enterprise's request."""
    loop = wired
    visit = await visit_with_issue(loop)
    await loop.flush()
    done = await loop.completed_case(
        type="suggestion", submitter=enterprise(),
        title="园区公交班次太少", description="新兴国际商贸物流中心一带公交班次少,希望增加班次。",
    )  # fmt: skip
    await ok(await loop.scoring.post(f"/v1/cases/{done['id']}/ratings", headers=loop.org.auth("hs_operator"),
                                     json={"satisfaction": "satisfied", "method": "visit"}), 201)  # fmt: skip
    key = {"X-API-Key": loop.channel_key}
    street = await ok(await loop.intake.post("/v1/requests", headers=key, json=submission(
        type="complaint", submitter=enterprise(NAME), title="厂区门前道路积水",
        description="光明路厂区门前道路雨后积水严重,货车无法进出。")), 201)  # fmt: skip
    report = await ok(await loop.intake.post("/v1/requests", headers=key, json=submission(
        type="report", submitter=enterprise(NAME), title="举报某科室吃拿卡要",
        description="办理审批时有工作人员暗示需要请客送礼才能加快进度。")), 201)  # fmt: skip
    other = await ok(await loop.intake.post("/v1/requests", headers=key, json=submission(
        type="help", submitter=enterprise("邯郸别家制造有限公司", OTHER), title="招工难",
        description="希望协助对接职业院校招聘技术工人。")), 201)  # fmt: skip
    await loop.flush()
    street_case = await case_by_tracking(loop, street["tracking_no"])
    street_case = await verify_and_dispatch(loop.routing, loop.org, street_case["id"],
                                            units=[{"unit_code": "HS-GM"}])  # fmt: skip
    report_case = await case_by_tracking(loop, report["tracking_no"])
    assert report_case["confidential"] is True
    await verify_and_dispatch(loop.routing, loop.org, report_case["id"])
    other_case = await case_by_tracking(loop, other["tracking_no"])
    await verify_and_dispatch(loop.routing, loop.org, other_case["id"])
    async with loop.makers["routing"]() as session:  # the street's card is past due
        await session.execute(update(Card).where(Card.id == street_case["cards"][0]["id"])
                              .values(due_at=utcnow() - timedelta(hours=3)))  # fmt: skip
        await session.commit()
    await loop.flush()
    return {
        "visit": visit, "visit_tracking": visit["receipts"][0]["tracking_no"],
        "done": done, "street": street_case, "report": report, "report_case": report_case,
        "other": other,
    }  # fmt: skip


async def file_of(loop: Loop, who: str, code: str = USCC) -> dict[str, Any]:
    return await ok(  # type: ignore[no-any-return]
        await loop.routing.get(f"/v1/enterprises/{code}", headers=loop.org.auth(who))
    )


def tracking_nos(section: dict[str, Any]) -> list[str]:
    return [item["tracking_no"] for item in section["items"]]


class TestFile:
    async def test_district_sees_every_part_with_its_figures(
        self, wired: Loop, seeded: dict[str, Any]
    ) -> None:
        body = await file_of(wired, "hs_operator")
        assert body["uscc"] == USCC
        assert body["partial"] == []
        assert body["name"] == NAME  # the most recent non-empty name
        assert body["requests_scope"] == "all"
        visit_no, done_no = seeded["visit_tracking"], seeded["done"]["tracking_no"]
        street_no = seeded["street"]["tracking_no"]
        # Newest first, every section: requests as received, cases, cards, ratings, visits.
        assert tracking_nos(body["requests"]) == [street_no, done_no, visit_no]
        assert body["requests"]["items"][2]["cppcc_visit_id"] == seeded["visit"]["id"]
        assert tracking_nos(body["cases"]) == [street_no, done_no, visit_no]
        assert [c["status"] for c in body["cases"]["items"]][2] == "pending_verification"
        assert {(c["tracking_no"], c["unit_code"], c["status"]) for c in body["cards"]["items"]} == {
            (street_no, "HS-GM", "dispatched"), (done_no, "DEPT-JT", "approved")}  # fmt: skip
        assert [(r["tracking_no"], r["satisfaction"]) for r in body["ratings"]["items"]] == [
            (done_no, "satisfied")
        ]
        assert [v["id"] for v in body["visits"]["items"]] == [seeded["visit"]["id"]]
        assert body["visits"]["items"][0]["member_name"] == "张骞"
        assert body["figures"] == {
            "requests": 3, "cases": 3, "cases_open": 2, "cases_closed": 1,
            "cards": 2, "cards_open": 1, "cards_overdue": 1,
            "ratings": 1, "ratings_satisfied": 1, "ratings_basic": 0, "ratings_unsatisfied": 0,
            "satisfaction_rate": 1.0, "visits": 1,
        }  # fmt: skip
        for section in ("requests", "cases", "cards", "ratings", "visits"):
            assert body[section]["truncated"] is False
        # The worklist lists the same cases and cards for the same caller.
        listed = await ok(await wired.routing.get("/v1/cases", params={"uscc": USCC},
                                                  headers=wired.org.auth("hs_operator")))  # fmt: skip
        assert {c["id"] for c in listed["items"]} == {c["id"] for c in body["cases"]["items"]}
        overdue = await ok(await wired.routing.get("/v1/cards", params={"uscc": USCC, "due_state": "overdue"},
                                                   headers=wired.org.auth("hs_operator")))  # fmt: skip
        assert [c["id"] for c in overdue["items"]] == [seeded["street"]["cards"][0]["id"]]

    async def test_a_street_sees_its_subtree_only(
        self, wired: Loop, seeded: dict[str, Any]
    ) -> None:
        body = await file_of(wired, "gm_operator")
        street_no = seeded["street"]["tracking_no"]
        assert body["requests_scope"] == "cases_in_scope"
        assert body["partial"] == []
        assert tracking_nos(body["cases"]) == [street_no]
        assert tracking_nos(body["cards"]) == [street_no]
        assert tracking_nos(body["requests"]) == [street_no]  # the request behind its case
        assert body["visits"]["items"] == []
        assert body["ratings"]["items"] == []
        figures = body["figures"]
        assert (figures["requests"], figures["cases"], figures["cases_open"]) == (1, 1, 1)
        assert (figures["cards"], figures["cards_overdue"], figures["ratings"]) == (1, 1, 0)
        assert figures["visits"] == 0
        assert figures["satisfaction_rate"] is None
        # Another street center sees none of it.
        nothing = await file_of(wired, "yq_operator")
        assert nothing["cases"]["total"] == 0
        assert nothing["requests"]["items"] == []
        assert nothing["figures"]["requests"] == 0
        assert nothing["name"] is None

    async def test_a_department_sees_the_cases_carded_to_it(
        self, wired: Loop, seeded: dict[str, Any]
    ) -> None:
        body = await file_of(wired, "jt_liaison")
        done_no = seeded["done"]["tracking_no"]
        assert tracking_nos(body["cases"]) == [done_no]
        assert tracking_nos(body["cards"]) == [done_no]
        assert tracking_nos(body["requests"]) == [done_no]
        assert [r["satisfaction"] for r in body["ratings"]["items"]] == ["satisfied"]
        assert body["figures"]["satisfaction_rate"] == 1.0
        assert body["figures"]["cards_overdue"] == 0
        assert body["name"] == OLD_NAME  # the newest name in its scope
        # 区规划局 has nothing of this enterprise.
        assert (await file_of(wired, "gh_liaison"))["cases"]["items"] == []

    @pytest.mark.parametrize(
        "who", ["hs_operator", "jt_liaison", "jw_officer", "admin", "gm_operator"]
    )
    async def test_a_confidential_report_is_nowhere(
        self, who: str, wired: Loop, seeded: dict[str, Any]
    ) -> None:
        body = await file_of(wired, who)
        text = json.dumps(body, ensure_ascii=False)
        assert seeded["report"]["tracking_no"] not in text
        assert seeded["report_case"]["id"] not in text
        assert "吃拿卡要" not in text
        assert seeded["other"]["tracking_no"] not in text  # nor another enterprise's
        assert body["figures"]["requests"] <= 3
        # Not even for intake's own service read: the credit code does not find it.
        records = await ok(await wired.intake.post(
            f"/v1/service/enterprises/{USCC}/records", json={},
            headers={"Authorization": f"Bearer {service_token('routing')}"}))  # fmt: skip
        assert seeded["report"]["tracking_no"] not in tracking_nos(records["requests"])
        assert records["requests"]["total"] == 3

    async def test_an_unknown_enterprise_has_an_empty_file(self, wired: Loop) -> None:
        body = await file_of(wired, "hs_leader", uscc(99))
        assert body["partial"] == []
        assert body["name"] is None
        assert body["figures"]["cases"] == 0
        assert body["figures"]["requests"] == 0
        assert body["cases"]["items"] == []
        assert body["visits"]["items"] == []

    async def test_the_credit_code_is_normalized(self, wired: Loop) -> None:
        spaced = f"{USCC[:6].lower()} {USCC[6:]}"
        body = await file_of(wired, "hs_operator", spaced)
        assert body["uscc"] == USCC


class TestRefusals:
    @pytest.mark.parametrize(
        "code",
        [
            USCC[:17],  # 17 characters
            USCC[:17] + ("0" if USCC[17] != "0" else "1"),  # wrong check character
            "91130404MA0EF0O01X",  # O is never used
            "1234",
            "x" * 300,
        ],
    )
    async def test_a_malformed_credit_code_is_422(self, code: str, wired: Loop) -> None:
        response = await wired.routing.get(
            f"/v1/enterprises/{code}", headers=wired.org.auth("hs_operator")
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert {"code", "message", "message_en", "details", "request_id"} <= set(error)

    async def test_persons_have_no_file(self, wired: Loop) -> None:
        # A phone number or an ID number is not a credit code.
        for identifier in ("13812345678", "130404199001011234"):
            response = await wired.routing.get(
                f"/v1/enterprises/{identifier}", headers=wired.org.auth("admin")
            )
            assert response.status_code == 422, identifier

    async def test_department_keys_and_services_are_not_staff(self, wired: Loop) -> None:
        response = await wired.routing.get(
            f"/v1/enterprises/{USCC}", headers={"X-API-Key": wired.jt_key}
        )
        assert response.status_code == 403
        response = await wired.routing.get(
            f"/v1/enterprises/{USCC}",
            headers={"Authorization": f"Bearer {service_token('scoring')}"},
        )
        assert response.status_code == 403

    async def test_the_internal_reads_refuse_staff(self, wired: Loop) -> None:
        leader = wired.org.auth("hs_leader")
        response = await wired.intake.post(
            f"/v1/service/enterprises/{USCC}/records", json={}, headers=leader
        )
        assert response.status_code == 403
        response = await wired.scoring.post(
            "/v1/service/ratings/by-cases", json={"case_ids": []}, headers=leader
        )
        assert response.status_code == 403


class TestPartial:
    async def test_intake_unreachable_answers_routings_part(
        self, loop: Loop, seeded: dict[str, Any]
    ) -> None:
        down = Refused()
        async with routing_calls(intake=down):
            response = await loop.routing.get(
                f"/v1/enterprises/{USCC}", headers=loop.org.auth("hs_operator")
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["partial"] == ["requests", "visits"]
        assert body["requests"] is None
        assert body["visits"] is None
        assert body["figures"]["requests"] is None
        assert body["figures"]["visits"] is None
        assert body["figures"]["cases"] == 3
        assert body["figures"]["cards_overdue"] == 1
        assert body["figures"]["ratings_satisfied"] == 1  # scoring still answered
        assert body["name"] == NAME  # from routing's cases

    async def test_scoring_unreachable_answers_without_ratings(
        self, loop: Loop, seeded: dict[str, Any]
    ) -> None:
        async with routing_calls(scoring=Refused()):
            body = await file_of(loop, "jt_liaison")
        assert body["partial"] == ["ratings"]
        assert body["ratings"] is None
        assert body["figures"]["satisfaction_rate"] is None
        assert body["figures"]["ratings"] is None
        assert tracking_nos(body["requests"]) == [seeded["done"]["tracking_no"]]


class TestBounds:
    async def test_sections_stop_at_200_and_say_so(self, wired: Loop) -> None:
        code = uscc(3)
        submitter = SubmitterInfo(kind=SubmitterKind.enterprise, name="王经理", uscc=code,
                                  enterprise_name="邯郸多诉企业有限公司")  # fmt: skip
        async with wired.makers["routing"]() as session:
            for n in range(201):
                event = request_event(request_id=uuid.uuid4(), submitter=submitter,
                                      received_at=utcnow() - timedelta(minutes=n))  # fmt: skip
                assert await case_service.create_from_request(session, event) is not None
            await session.commit()
        body = await file_of(wired, "auditor", code)
        cases = body["cases"]
        assert len(cases["items"]) == 200
        assert cases["total"] == 201
        assert cases["truncated"]
        assert body["figures"]["cases"] == 201
        assert body["figures"]["cases_open"] == 201
        # The ratings cover the listed cases: marked truncated with them.
        assert body["ratings"]["truncated"] is True
        assert body["partial"] == []
