"""Public figures (DESIGN §9): per channel, per topic, online, staff and public endpoints."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from scoring_service.evaluation.statistics import public_cache, statistics_service
from services.db import AsyncSessionMaker
from tests.scoring_service.evaluation.helpers import (
    case_fact,
    rating,
    request_fact,
    sh,
    token,
    visit,
)

STAFF = "/v1/statistics"
PUBLIC = "/v1/public/statistics"
OCTOBER = {"start": "2026-10-01", "end": "2026-10-31"}
AUDITOR = token("auditor")
LEADER = token("leader")


async def build(sessionmaker: AsyncSessionMaker) -> None:
    """October 2026, by hand:

    requests: app land (closed), app transport (in progress), smart hall permit (completed),
      165 land (closed), 165 funds (answered), hotline environment (transferred: still open),
      website other at 00:30 on 1 October (rejected); a hotline duplicate is not collected and a
      request at 00:10 on 1 November (Shanghai) is not October's.
      -> collected 7, resolved 4, in progress 2
    final ratings: app land satisfied (after an unsatisfied round 0), smart hall basic,
      165 land satisfied, 165 funds unsatisfied -> 4 ratings, (2 + k)/4
    visits: enterprises A (165 twice, and a center visit), B (165); merchants 张记, 李家
      (center visits); a 165 visit on 1 November is not October's -> 2 enterprises, 2 merchants
    """
    rows: list[Any] = []

    def arrive(channel: str, topic: str, status: str, received: Any, **kw: Any) -> uuid.UUID:
        request_id = uuid.uuid4()
        case_id = uuid.uuid4()
        rows.append(
            request_fact(
                channel=channel, topic=topic, received=received, request_id=request_id, **kw
            )
        )
        rows.append(case_fact(channel=channel, topic=topic, status=status, received=received,
                              case_id=case_id, request_id=request_id))  # fmt: skip
        return case_id

    app_land = arrive("app", "land", "closed", sh(10, 9))
    arrive("app", "transport", "in_progress", sh(10, 10))
    hall_permit = arrive("smart_hall", "permit", "completed", sh(10, 11))
    cppcc_land = arrive("cppcc_165", "land", "closed", sh(10, 12))
    cppcc_funds = arrive("cppcc_165", "funds", "answered", sh(10, 13))
    arrive("hotline", "environment", "transferred", sh(10, 14))
    arrive("website", "other", "rejected", sh(10, 1, 0, 30))
    arrive("hotline", "environment", "duplicate", sh(10, 15), duplicate=True)
    november = arrive("app", "land", "closed", sh(11, 1, 0, 10))
    rows += [
        rating(app_land, "unsatisfied", sh(10, 20)),
        rating(app_land, "satisfied", sh(10, 27), round=1),
        rating(hall_permit, "basic", sh(10, 20)),
        rating(cppcc_land, "satisfied", sh(10, 21)),
        rating(cppcc_funds, "unsatisfied", sh(10, 22)),
        rating(november, "satisfied", sh(11, 5)),
        visit("cppcc_165", "enterprise", "USCC-A", date(2026, 10, 5)),
        visit("cppcc_165", "enterprise", "USCC-A", date(2026, 10, 20)),
        visit("cppcc_165", "enterprise", "USCC-B", date(2026, 10, 10)),
        visit("visit", "merchant", "张记面馆", date(2026, 10, 11)),
        visit("visit", "merchant", "李家超市", date(2026, 10, 31)),
        visit("visit", "enterprise", "USCC-A", date(2026, 10, 15)),
        visit("cppcc_165", "enterprise", "USCC-C", date(2026, 11, 1)),
    ]
    async with sessionmaker() as session:
        session.add_all(rows)
        await session.commit()


def figures(body: dict[str, Any]) -> tuple[Any, ...]:
    return (
        body["collected"],
        body["resolved"],
        body["in_progress"],
        body["ratings"],
        body["satisfaction_rate"],
    )


@pytest.fixture
async def facts(scoring_sessionmaker: AsyncSessionMaker) -> None:
    await build(scoring_sessionmaker)


@pytest.mark.usefixtures("facts")
class TestStatistics:
    async def test_totals_channels_topics(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(STAFF, params=OCTOBER, headers=AUDITOR)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["start"], body["end"]) == ("2026-10-01", "2026-10-31")
        assert (body["enterprises_visited"], body["merchants_visited"]) == (2, 2)
        assert (body["issues_collected"], body["resolved"], body["in_progress"]) == (7, 4, 2)
        assert (body["ratings"], body["satisfaction_rate"], body["k"]) == (4, 0.75, 1.0)

        channels = body["by_channel"]
        assert set(channels) >= {
            "app",
            "smart_hall",
            "website",
            "hotline",
            "cppcc_165",
            "open311",
            "tv",
        }
        assert figures(channels["app"]) == (2, 1, 1, 1, 1.0)
        assert figures(channels["smart_hall"]) == (1, 1, 0, 1, 1.0)
        assert figures(channels["website"]) == (1, 0, 0, 0, None)
        assert figures(channels["cppcc_165"]) == (2, 2, 0, 2, 0.5)
        assert figures(channels["hotline"]) == (1, 0, 1, 0, None)
        assert figures(channels["tv"]) == (0, 0, 0, 0, None)
        assert channels["cppcc_165"]["label_zh"] == "165政协委员直通车"
        assert (
            channels["cppcc_165"]["enterprises_visited"],
            channels["cppcc_165"]["merchants_visited"],
        ) == (2, 0)
        assert (
            channels["visit"]["enterprises_visited"],
            channels["visit"]["merchants_visited"],
        ) == (1, 2)

        online = body["online"]
        assert online["label_zh"] == "网上办件"
        assert online["channels"] == ["app", "smart_hall", "website", "open311"]
        assert figures(online) == (4, 2, 1, 2, 1.0)

        topics = body["by_topic"]
        assert figures(topics["land"]) == (2, 2, 0, 2, 1.0)
        assert topics["land"]["label_zh"] == "土地"
        assert figures(topics["transport"]) == (1, 0, 1, 0, None)
        assert figures(topics["permit"]) == (1, 1, 0, 1, 1.0)
        assert figures(topics["funds"]) == (1, 1, 0, 1, 0.0)
        assert figures(topics["environment"]) == (1, 0, 1, 0, None)
        assert figures(topics["other"]) == (1, 0, 0, 0, None)

    async def test_k_follows_the_policy_of_the_last_month(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        put = await scoring_client.put(
            "/v1/evaluation/policy/2026-10", json={"basic_satisfaction_k": 0.5}, headers=LEADER
        )
        assert put.status_code == 200, put.text
        body = (await scoring_client.get(STAFF, params=OCTOBER, headers=AUDITOR)).json()
        assert (body["k"], body["satisfaction_rate"]) == (0.5, 0.625)
        assert body["by_channel"]["smart_hall"]["satisfaction_rate"] == 0.5

    async def test_one_day(self, scoring_client: httpx.AsyncClient) -> None:
        body = (await scoring_client.get(STAFF, params={"start": "2026-10-01", "end": "2026-10-01"},
                                         headers=AUDITOR)).json()  # fmt: skip
        assert (body["issues_collected"], body["by_channel"]["website"]["collected"]) == (1, 1)

    async def test_public_needs_no_token_and_is_cached(
        self, scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        first = await scoring_client.get(PUBLIC, params=OCTOBER)
        assert first.status_code == 200, first.text
        assert first.headers["cache-control"] == "public, max-age=60"
        staff = (await scoring_client.get(STAFF, params=OCTOBER, headers=AUDITOR)).json()
        public = first.json()
        assert {k: v for k, v in public.items() if k != "generated_at"} == {
            k: v for k, v in staff.items() if k != "generated_at"
        }
        assert "张骞" not in first.text
        assert "13812345678" not in first.text
        assert "USCC-A" not in first.text

        async with scoring_sessionmaker() as session:
            session.add(request_fact(channel="app", topic="water", received=sh(10, 30)))
            await session.commit()
        cached = (await scoring_client.get(PUBLIC, params=OCTOBER)).json()
        assert cached["issues_collected"] == 7
        assert cached["generated_at"] == public["generated_at"]
        assert (await scoring_client.get(STAFF, params=OCTOBER, headers=AUDITOR)).json()[
            "issues_collected"
        ] == 8
        public_cache.clear()
        assert (await scoring_client.get(PUBLIC, params=OCTOBER)).json()["issues_collected"] == 8

    async def test_concurrent_public_calls_compute_once(
        self, scoring_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = 0
        original = statistics_service.figures

        async def counting(session: Any, start: date, end: date) -> Any:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return await original(session, start, end)

        monkeypatch.setattr(statistics_service, "figures", counting)
        responses = await asyncio.gather(
            *(scoring_client.get(PUBLIC, params=OCTOBER) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5
        assert {r.json()["generated_at"] for r in responses} == {
            responses[0].json()["generated_at"]
        }
        assert calls == 1


class TestStatisticsErrors:
    async def test_staff_endpoint_needs_a_token(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(STAFF, params=OCTOBER)
        assert response.status_code == 401

    @pytest.mark.parametrize("path", [STAFF, PUBLIC])
    async def test_end_before_start(self, scoring_client: httpx.AsyncClient, path: str) -> None:
        response = await scoring_client.get(
            path, params={"start": "2026-10-31", "end": "2026-10-01"}, headers=AUDITOR
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_date_range"

    @pytest.mark.parametrize("path", [STAFF, PUBLIC])
    async def test_longer_than_three_years(
        self, scoring_client: httpx.AsyncClient, path: str
    ) -> None:
        response = await scoring_client.get(
            path, params={"start": "2020-01-01", "end": "2023-01-01"}, headers=AUDITOR
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "date_range_too_long"
        fine = await scoring_client.get(
            path, params={"start": "2020-01-01", "end": "2022-12-31"}, headers=AUDITOR
        )
        assert fine.status_code == 200, fine.text

    async def test_bad_date(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(PUBLIC, params={"start": "2026-02-30"})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"

    @pytest.mark.parametrize(
        ("start", "end"), [("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31")]
    )
    async def test_dates_at_the_ends_of_time(
        self, scoring_client: httpx.AsyncClient, start: str, end: str
    ) -> None:
        response = await scoring_client.get(PUBLIC, params={"start": start, "end": end})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_date_range"

    async def test_empty_period(self, scoring_client: httpx.AsyncClient) -> None:
        body = (
            await scoring_client.get(PUBLIC, params={"start": "2020-01-01", "end": "2020-01-31"})
        ).json()
        assert (body["issues_collected"], body["resolved"], body["satisfaction_rate"]) == (
            0,
            0,
            None,
        )
        assert body["by_channel"]["app"]["collected"] == 0
