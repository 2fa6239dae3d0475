"""Feedback, revisits, ratings and redo, on cases driven through the real intake and routing apps
(events moved in-process by the pump, REST between services over ASGI transports)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from scoring_service.models import RevisitTask
from services.db import AsyncSessionMaker
from shared.calendar import default_calendar
from tests.fixtures.loop import Loop
from tests.fixtures.org import Org
from tests.intake_service.issue.test_endpoints import submission
from tests.routing_service.assignment.helpers import ok


class TestRevisit:
    async def test_completed_case_gets_a_revisit_due_in_one_working_day(
        self, loop: Loop, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        case = await loop.completed_case()
        revisits = await ok(
            await loop.scoring.get("/v1/revisits", headers=loop.org.auth("hs_operator"))
        )
        assert [r["tracking_no"] for r in revisits["items"]] == [case["tracking_no"]]
        async with scoring_sessionmaker() as session:
            task = await session.scalar(select(RevisitTask))
            assert task is not None
        completed = (
            await ok(
                await loop.routing.get(
                    f"/v1/cases/{case['id']}", headers=loop.org.auth("hs_operator")
                )
            )
        )["completed_at"]
        from datetime import datetime

        assert (
            task.due_at
            == default_calendar().add_working_days(datetime.fromisoformat(completed), 1).due_at
        )
        # The handling unit never does the revisit.
        denied = await loop.scoring.post(
            f"/v1/cases/{case['id']}/ratings",
            headers=loop.org.auth("jt_liaison"),
            json={"satisfaction": "satisfied"},
        )
        assert denied.status_code == 403


class TestRatings:
    async def test_submitter_rates_through_the_public_api_once(self, loop: Loop) -> None:
        case = await loop.completed_case()
        url = f"/v1/requests/{case['tracking_no']}/rating"
        owner = {"X-Tracking-Secret": case["tracking_secret"]}
        first = await ok(
            await loop.intake.post(
                url,
                headers=owner,
                json={"satisfaction": "satisfied", "score": 98, "resolved": True},
            ),
            201,
        )
        again = await ok(
            await loop.intake.post(
                url,
                headers=owner,
                json={"satisfaction": "satisfied", "score": 98, "resolved": True},
            ),
            200,
        )
        assert again["id"] == first["id"]
        changed = await loop.intake.post(url, headers=owner, json={"satisfaction": "unsatisfied"})
        assert changed.status_code == 409
        assert changed.json()["error"]["code"] == "already_rated"
        stranger = await loop.intake.post(
            url, headers={"X-Tracking-Secret": "nope"}, json={"satisfaction": "satisfied"}
        )
        assert stranger.status_code == 404
        out_of_range = await loop.intake.post(
            url, headers=owner, json={"satisfaction": "satisfied", "score": 101}
        )
        assert out_of_range.status_code == 422
        # The rating archives the case in routing, and the submitter sees it.
        await loop.flush()
        routed = await ok(
            await loop.routing.get(f"/v1/cases/{case['id']}", headers=loop.org.auth("hs_operator"))
        )
        assert routed["status"] == "closed"
        view = await ok(await loop.intake.get(f"/v1/requests/{case['tracking_no']}", headers=owner))
        assert view["status"] == "closed"

    async def test_open_cases_and_unknown_cases_cannot_be_rated(self, loop: Loop) -> None:
        receipt = await ok(
            await loop.intake.post(
                "/v1/requests", json=submission(), headers={"X-API-Key": loop.channel_key}
            ),
            201,
        )
        await loop.flush()
        case = await ok(
            await loop.routing.get(
                f"/v1/cases/by-tracking/{receipt['tracking_no']}",
                headers=loop.org.auth("hs_operator"),
            )
        )
        early = await loop.scoring.post(
            f"/v1/cases/{case['id']}/ratings",
            headers=loop.org.auth("hs_operator"),
            json={"satisfaction": "satisfied"},
        )
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "case_not_completed"
        unknown = await loop.scoring.post(
            f"/v1/cases/{uuid.uuid4()}/ratings",
            headers=loop.org.auth("hs_operator"),
            json={"satisfaction": "satisfied"},
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "case_not_found"

    async def test_anonymous_requests_are_rated_only_through_the_platform(self, loop: Loop) -> None:
        case = await loop.completed_case(anonymous=True, submitter=None)
        visit = await loop.scoring.post(f"/v1/cases/{case['id']}/feedback", headers=loop.org.auth("hs_operator"),
                                        json={"method": "visit", "notes": "上门反馈"})  # fmt: skip
        assert visit.status_code == 409
        assert visit.json()["error"]["code"] == "anonymous_platform_only"
        platform = await loop.scoring.post(f"/v1/cases/{case['id']}/feedback", headers=loop.org.auth("hs_operator"),
                                           json={"method": "original_channel", "notes": "已通过平台原渠道反馈"})  # fmt: skip
        assert platform.status_code == 201
        rated = await loop.intake.post(f"/v1/requests/{case['tracking_no']}/rating",
                                       headers={"X-Tracking-Secret": case["tracking_secret"]}, json={"satisfaction": "basic"})  # fmt: skip
        assert rated.status_code == 201


class TestFeedbackAndRedo:
    async def test_symposium_feedback_then_redo_on_the_units_side(self, loop: Loop) -> None:
        case = await loop.completed_case()
        missing = await loop.scoring.post(f"/v1/cases/{case['id']}/feedback", headers=loop.org.auth("hs_operator"),
                                          json={"method": "symposium"})  # fmt: skip
        assert missing.status_code == 422
        symposium = await ok(await loop.scoring.post(f"/v1/cases/{case['id']}/feedback", headers=loop.org.auth("hs_operator"),
                                                     json={"method": "symposium", "attendees": ["新兴国际 王总", "区交通运输局 李局长"],
                                                           "minutes": "集中座谈反馈办理结果,企业提出线路仍需优化"}), 201)  # fmt: skip
        assert symposium["attendees"] == ["新兴国际 王总", "区交通运输局 李局长"]
        rating = await ok(await loop.scoring.post(f"/v1/cases/{case['id']}/ratings", headers=loop.org.auth("hs_operator"),
                                                  json={"method": "symposium", "satisfaction": "unsatisfied", "score": 55,
                                                        "resolved": False, "unit_at_fault": True}), 201)  # fmt: skip
        redo = await ok(await loop.scoring.post(f"/v1/ratings/{rating['id']}/redo", headers=loop.org.auth("hs_supervisor"),
                                                json={"reason": "企业反映公交线路仍未调整"}))  # fmt: skip
        assert redo["redo_ordered_at"] is not None
        reopened = await ok(
            await loop.routing.get(f"/v1/cases/{case['id']}", headers=loop.org.auth("hs_operator"))
        )
        assert reopened["status"] == "in_progress"
        assert reopened["redo_count"] == 1
        # Ordering it again changes nothing.
        await ok(
            await loop.scoring.post(
                f"/v1/ratings/{rating['id']}/redo",
                headers=loop.org.auth("hs_supervisor"),
                json={"reason": "再次"},
            )
        )
        assert (
            await ok(
                await loop.routing.get(
                    f"/v1/cases/{case['id']}", headers=loop.org.auth("hs_operator")
                )
            )
        )["redo_count"] == 1

    async def test_no_redo_for_a_satisfied_case(self, loop: Loop) -> None:
        case = await loop.completed_case()
        rating = await ok(await loop.scoring.post(f"/v1/cases/{case['id']}/ratings", headers=loop.org.auth("hs_operator"),
                                                  json={"satisfaction": "satisfied", "resolved": True}), 201)  # fmt: skip
        refused = await loop.scoring.post(
            f"/v1/ratings/{rating['id']}/redo",
            headers=loop.org.auth("hs_supervisor"),
            json={"reason": "试试"},
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "redo_not_allowed"


class TestVisits:
    async def test_center_visits_are_logged_in_batches(
        self, scoring_client: httpx.AsyncClient, org: Org, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        from scoring_service.models import VisitFact

        body = {"visits": [
            {"target_kind": "enterprise", "target_name": "邯郸制药", "visited_on": "2026-10-19"},
            {"target_kind": "merchant", "target_name": "浙江商贸城 A-101 商户", "visited_on": "2026-10-20"},
        ]}  # fmt: skip
        assert (
            await ok(
                await scoring_client.post("/v1/visits", headers=org.auth("hs_operator"), json=body),
                201,
            )
        ) == {"recorded": 2}
        future = {
            "visits": [
                {"target_kind": "merchant", "target_name": "未来商户", "visited_on": "2099-01-01"}
            ]
        }
        response = await scoring_client.post(
            "/v1/visits", headers=org.auth("hs_operator"), json=future
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_visit_date"
        assert (
            await scoring_client.post("/v1/visits", headers=org.auth("jt_liaison"), json=body)
        ).status_code == 403
        async with scoring_sessionmaker() as session:
            assert len((await session.scalars(select(VisitFact))).all()) == 2
