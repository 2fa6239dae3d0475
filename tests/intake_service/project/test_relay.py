"""The enterprise's project view and rating, relayed by intake to routing and scoring (a real
HTTP server stands in for both: see conftest.py)."""

from __future__ import annotations

import httpx
import pytest

from intake_service.config import settings
from services.settings import common_settings
from shared.schemas.project import ProjectProgressOut, ProjectRatingOut
from tests.fixtures.processes import free_port
from tests.intake_service.project.conftest import SECRET, TRACKING_NO, FakeUpstreams, progress

URL = f"/v1/projects/{TRACKING_NO}"
OWNER = {"X-Tracking-Secret": SECRET}


class TestView:
    async def test_the_owner_sees_routings_progress(
        self, intake_client: httpx.AsyncClient, upstreams: FakeUpstreams
    ) -> None:
        response = await intake_client.get(URL, headers=OWNER)
        assert response.status_code == 200, response.text
        view = ProjectProgressOut.model_validate(response.json())
        assert view == ProjectProgressOut.model_validate(progress())
        assert view.steps[0].unit_name == "自然资源和规划局"
        # Called as the intake service, with the enterprise's secret.
        assert upstreams.callers == ["service:intake"]

    async def test_a_lower_case_number_is_the_same_project(
        self, intake_client: httpx.AsyncClient, upstreams: FakeUpstreams
    ) -> None:
        response = await intake_client.get(URL.lower(), headers=OWNER)
        assert response.status_code == 200, response.text
        assert upstreams.calls == [("routing", TRACKING_NO)]

    @pytest.mark.parametrize(
        "headers",
        [{"X-Tracking-Secret": "wrong-secret"}, {}, {"X-Tracking-Secret": "x" * 129}],
        ids=["wrong secret", "no secret", "over-long secret"],
    )
    async def test_no_proof_is_the_same_404_as_an_unknown_number(
        self, intake_client: httpx.AsyncClient, upstreams: FakeUpstreams, headers: dict[str, str]
    ) -> None:
        refused = await intake_client.get(URL, headers=headers)
        unknown = await intake_client.get("/v1/projects/XM2612089999", headers=OWNER)
        for response in (refused, unknown):
            assert response.status_code == 404, response.text
            error = response.json()["error"]
            assert error["code"] == "project_not_found"
            assert error["message"] == "未找到该项目,或查询密码不正确"
            assert error["message_en"] == "No such project, or the tracking secret is wrong"
        # Without a usable secret routing is not even asked.
        asked = [no for service, no in upstreams.calls if service == "routing"]
        usable = headers.get("X-Tracking-Secret") == "wrong-secret"
        assert asked == ([TRACKING_NO] if usable else []) + ["XM2612089999"]

    async def test_repeated_misses_lock_the_address_out_before_routing_is_asked(
        self,
        intake_client: httpx.AsyncClient,
        upstreams: FakeUpstreams,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "rate_track_failures_per_ip", 3)
        for guess in range(3):
            miss = await intake_client.get(
                f"/v1/projects/XM26120800{guess:02d}", headers={"X-Tracking-Secret": "guess"}
            )
            assert miss.status_code == 404
        asked = len(upstreams.calls)
        blocked = await intake_client.get(URL, headers=OWNER)  # even the right secret
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["error"]["code"] == "rate_limited"
        assert 0 < int(blocked.headers["retry-after"]) <= 600
        assert len(upstreams.calls) == asked  # the lockout is checked first
        # One budget with request lookups: guessing cannot move over to requests.
        request = await intake_client.get(
            "/v1/requests/YS26120800000001", headers={"X-Tracking-Secret": "guess"}
        )
        assert request.status_code == 429

    async def test_a_request_lookup_miss_counts_against_projects_too(
        self,
        intake_client: httpx.AsyncClient,
        upstreams: FakeUpstreams,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "rate_track_failures_per_ip", 1)
        miss = await intake_client.get(
            "/v1/requests/YS26120800000001", headers={"X-Tracking-Secret": "guess"}
        )
        assert miss.status_code == 404
        assert (await intake_client.get(URL, headers=OWNER)).status_code == 429
        assert upstreams.calls == []

    async def test_routing_failing_is_a_503_and_not_a_miss(
        self,
        intake_client: httpx.AsyncClient,
        upstreams: FakeUpstreams,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "rate_track_failures_per_ip", 1)
        upstreams.fail.add("routing")
        for _ in range(2):
            response = await intake_client.get(URL, headers=OWNER)
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "service_unavailable"
            assert error["message"] == "项目进度暂时无法查询,请稍后再试"
        upstreams.fail.clear()
        assert (await intake_client.get(URL, headers=OWNER)).status_code == 200

    async def test_routing_unreachable_is_a_503(
        self, intake_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Nothing listens there: a real connection refused.
        monkeypatch.setattr(common_settings(), "routing_url", f"http://127.0.0.1:{free_port()}")
        response = await intake_client.get(URL, headers=OWNER)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "service_unavailable"

    async def test_an_answer_routing_should_not_give_is_a_503_never_a_500(
        self, intake_client: httpx.AsyncClient, upstreams: FakeUpstreams
    ) -> None:
        upstreams.projects[TRACKING_NO] = (SECRET, {"tracking_no": TRACKING_NO})
        response = await intake_client.get(URL, headers=OWNER)
        assert response.status_code == 503, response.text


class TestRating:
    async def test_rated_once_then_the_same_again_then_a_different_one(
        self, intake_client: httpx.AsyncClient, upstreams: FakeUpstreams
    ) -> None:
        url = f"{URL}/ratings"
        body = {
            "milestone": "started",
            "satisfaction": "satisfied",
            "score": 96,
            "comment": "代办员很负责",
        }
        first = await intake_client.post(url, json=body, headers=OWNER)
        again = await intake_client.post(url, json=body, headers=OWNER)
        other = await intake_client.post(
            url, json={**body, "satisfaction": "unsatisfied"}, headers=OWNER
        )
        assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
        rating = ProjectRatingOut.model_validate(first.json())
        assert (rating.milestone, rating.comment) == ("started", "代办员很负责")
        assert again.json() == first.json()
        assert other.json()["error"]["code"] == "already_rated"  # scoring's answer, unchanged
        # Every rating was preceded by the ownership check in routing.
        assert [service for service, _ in upstreams.calls] == ["routing", "scoring"] * 3
        assert first.headers["Location"] == URL
        assert "Location" not in again.headers
        shown = await intake_client.get(first.headers["Location"], headers=OWNER)
        assert shown.status_code == 200

    async def test_not_the_owner_is_404_and_scoring_is_not_asked(
        self, intake_client: httpx.AsyncClient, upstreams: FakeUpstreams
    ) -> None:
        response = await intake_client.post(
            f"{URL}/ratings",
            json={"milestone": "started", "satisfaction": "satisfied"},
            headers={"X-Tracking-Secret": "wrong-secret"},
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "project_not_found"
        assert [service for service, _ in upstreams.calls] == ["routing"]
        assert upstreams.ratings == {}

    async def test_a_bad_rating_is_422_before_anything_is_relayed(
        self, intake_client: httpx.AsyncClient, upstreams: FakeUpstreams
    ) -> None:
        response = await intake_client.post(
            f"{URL}/ratings",
            json={"milestone": "opened", "satisfaction": "satisfied", "score": 101},
            headers=OWNER,
        )
        assert response.status_code == 422
        assert upstreams.ratings == {}

    @pytest.mark.parametrize("down", ["scoring failing", "scoring unreachable"])
    async def test_scoring_unavailable_is_a_503(
        self,
        intake_client: httpx.AsyncClient,
        upstreams: FakeUpstreams,
        monkeypatch: pytest.MonkeyPatch,
        down: str,
    ) -> None:
        if down == "scoring failing":
            upstreams.fail.add("scoring")
        else:
            monkeypatch.setattr(common_settings(), "scoring_url", f"http://127.0.0.1:{free_port()}")
        response = await intake_client.post(
            f"{URL}/ratings", json={"milestone": "started", "satisfaction": "basic"}, headers=OWNER
        )
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "service_unavailable"
        assert error["message"] == "评价服务暂不可用,请稍后再试"
        assert upstreams.ratings == {}
