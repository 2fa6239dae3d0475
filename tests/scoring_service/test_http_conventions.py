"""Issue 16's conventions on the scoring API: the revisit list in the one cursor style,
``Location`` on every create, and an OpenAPI document where each operation has a description,
one tag and a typed answer (files with their media types)."""

from __future__ import annotations

from typing import Any

import httpx

from scoring_service.app import app
from services.auth import service_token
from tests.fixtures.loop import Loop
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import ok

REVISITS = "/v1/revisits"
STAFF_RATING = {"method": "visit", "satisfaction": "satisfied", "score": 95}


async def revisit_pages(loop: Loop, limit: int, **params: Any) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < 20:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await ok(
            await loop.scoring.get(REVISITS, params=query, headers=loop.org.auth("hs_operator"))
        )
        assert page["limit"] == limit
        assert page["total"] is None
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


async def test_revisits_page_by_cursor(loop: Loop) -> None:
    # Three submitters, so that none of the three is a duplicate of another.
    cases = [
        await loop.completed_case(
            submitter={"kind": "person", "name": "张三", "phone": f"1381234567{i}"}
        )
        for i in range(3)
    ]
    operator = loop.org.auth("hs_operator")
    everything = await ok(await loop.scoring.get(REVISITS, headers=operator))
    tracking = [r["tracking_no"] for r in everything["items"]]
    assert sorted(tracking) == sorted(c["tracking_no"] for c in cases)
    assert everything["next_cursor"] is None
    for limit in (1, 2):
        pages = await revisit_pages(loop, limit)
        assert [r["tracking_no"] for page in pages for r in page["items"]] == tracking
        assert all(len(page["items"]) == limit for page in pages[:-1])
        assert len(pages) == -(-3 // limit)
    counted = await ok(
        await loop.scoring.get(
            REVISITS, params={"limit": 1, "with_total": "true"}, headers=operator
        )
    )
    assert counted["total"] == 3
    cursor = counted["next_cursor"]
    body, signature = cursor.split(".")
    forged = ("A" if body[0] != "A" else "B") + body[1:] + "." + signature
    for bad in (forged, "garbage"):
        refused = await loop.scoring.get(REVISITS, params={"cursor": bad}, headers=operator)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "invalid_cursor"
    # The cursor belongs to its query: another status with it is refused.
    other = await loop.scoring.get(
        REVISITS, params={"cursor": cursor, "status": "done"}, headers=operator
    )
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "cursor_query_mismatch"
    for stale in ({"offset": "1"}, {"status": "nonsense"}):
        assert (await loop.scoring.get(REVISITS, params=stale, headers=operator)).status_code == 422


async def test_feedback_and_ratings_name_where_they_are_shown(loop: Loop) -> None:
    case = await loop.completed_case()
    operator = loop.org.auth("hs_operator")
    feedback = await loop.scoring.post(f"/v1/cases/{case['id']}/feedback", headers=operator,
                                       json={"method": "visit", "notes": "上门反馈"})  # fmt: skip
    assert feedback.status_code == 201, feedback.text
    assert feedback.headers["location"] == f"/v1/cases/{case['id']}/feedback"
    shown = await ok(await loop.scoring.get(feedback.headers["location"], headers=operator))
    assert [f["id"] for f in shown] == [feedback.json()["id"]]

    rating = await loop.scoring.post(
        f"/v1/cases/{case['id']}/ratings", headers=operator, json=STAFF_RATING
    )
    assert rating.status_code == 201, rating.text
    assert rating.headers["location"] == f"/v1/cases/{case['id']}/ratings"
    ratings = await ok(await loop.scoring.get(rating.headers["location"], headers=operator))
    assert [r["id"] for r in ratings] == [rating.json()["id"]]
    # The same rating again creates nothing: 200 with the first one, no Location.
    again = await loop.scoring.post(
        f"/v1/cases/{case['id']}/ratings", headers=operator, json=STAFF_RATING
    )
    assert again.status_code == 200
    assert again.json() == rating.json()
    assert "location" not in again.headers


async def test_platform_rating_names_the_cases_ratings(loop: Loop) -> None:
    case = await loop.completed_case()
    relay = {"Authorization": f"Bearer {service_token('intake')}"}
    rated = await loop.scoring.post("/v1/ratings/by-platform", headers=relay,
                                    json={"tracking_no": case["tracking_no"], "satisfaction": "basic"})  # fmt: skip
    assert rated.status_code == 201, rated.text
    assert rated.headers["location"] == f"/v1/cases/{case['id']}/ratings"
    ratings = await ok(
        await loop.scoring.get(rated.headers["location"], headers=loop.org.auth("hs_operator"))
    )
    assert [r["id"] for r in ratings] == [rated.json()["id"]]


async def test_visits_name_the_statistics_that_count_them(
    scoring_client: httpx.AsyncClient, org: Org
) -> None:
    body = {"visits": [{"target_kind": "enterprise", "target_name": "邯郸制药",
                        "visited_on": "2026-10-19"}]}  # fmt: skip
    logged = await scoring_client.post("/v1/visits", headers=org.auth("hs_operator"), json=body)
    assert logged.status_code == 201, logged.text
    # Visits have no route of their own: the staff statistics count them.
    assert logged.headers["location"] == "/v1/statistics"
    figures = await scoring_client.get(
        logged.headers["location"],
        params={"start": "2026-10-01", "end": "2026-10-31"},
        headers=org.auth("hs_operator"),
    )
    assert figures.status_code == 200, figures.text
    assert figures.json()["enterprises_visited"] == 1


# Every operation's tag, description and typed answer: tests/contract/test_openapi.py.


def test_exports_document_their_files() -> None:
    paths = app.openapi()["paths"]
    for path in ("/v1/evaluation/scorecards/export", "/v1/evaluation/annual/export"):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert content["text/csv"]["schema"] == {"type": "string"}
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert content[xlsx]["schema"] == {"type": "string", "format": "binary"}
        assert "application/json" not in content


def test_revisits_take_the_cursor_parameters() -> None:
    operation = app.openapi()["paths"][REVISITS]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"status", "limit", "cursor", "with_total"} == names
