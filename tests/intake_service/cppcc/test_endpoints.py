"""The CPPCC "165" express API: stations, members, visits whose issues become requests, summary."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from services.db import AsyncSessionMaker
from shared.identifiers import uscc_check_char

BASE = "/v1/cppcc"


def uscc(serial: int = 1) -> str:
    prefix = f"91130404MA0CT{serial:04d}"
    return prefix + uscc_check_char(prefix)


def today() -> date:
    return date.today()


@pytest.fixture
async def cppcc_key(intake_sessionmaker: AsyncSessionMaker) -> str:
    from intake_service.models import ApiKey
    from tests.fixtures.clients import make_key

    return await make_key(intake_sessionmaker, ApiKey, "cppcc_165")


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": key, **headers}


async def post(
    client: httpx.AsyncClient, key: str, path: str, body: Any, **headers: str
) -> httpx.Response:
    return await client.post(f"{BASE}{path}", json=body, headers=auth(key, **headers))


async def get(client: httpx.AsyncClient, key: str, path: str, **params: Any) -> httpx.Response:
    return await client.get(f"{BASE}{path}", params=params, headers=auth(key))


async def station(
    client: httpx.AsyncClient, key: str, name: str = "经济界别联络站", sector: str = "经济界"
) -> dict[str, Any]:
    response = await post(client, key, "/stations", {"name": name, "sector": sector})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def member(
    client: httpx.AsyncClient,
    key: str,
    station_id: str,
    name: str = "张骞",
    phone: str | None = "13812345678",
) -> dict[str, Any]:
    response = await post(
        client, key, "/members", {"name": name, "phone": phone, "station_id": station_id}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def contact(name: str = "李经理", phone: str = "0310-1234567") -> dict[str, str]:
    return {"name": name, "phone": phone}


SEED_ISSUES: list[dict[str, Any]] = [
    {
        "type": "suggestion",
        "topic": "transport",
        "title": "希望增加园区公交班次",
        "description": "新兴国际、康尔耐等企业反映希望增加公交班次、提高园区交通承载力。",
        "contact": contact(),
    },
    {
        "type": "help",
        "topic": "funds",
        "urgency": "urgent",
        "title": "医药公司药品款被拖欠",
        "description": "医药公司反映药品款长期被拖欠,影响资金周转,希望明确还款时限。",
        "contact": contact("王会计", "13900001111"),
    },
    {
        "type": "complaint",
        "title": "商场周边环境杂乱",
        "description": "商场周边摊点占道、垃圾堆放,环境杂乱,秩序不好,希望整治。",
        "location": {"address": "邯山区浙江商贸城东门"},
        "contact": contact("赵店长", "13700002222"),
    },
]


def visit_body(member_id: str, /, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "member_id": member_id,
        "target_kind": "enterprise",
        "target_name": "新兴国际商贸物流中心",
        "uscc": uscc(1),
        "area_code": "130404-park",
        "visited_on": (today() - timedelta(days=3)).isoformat(),
        "findings": "走访园区企业,座谈了解交通、资金、环境等方面的困难。",
        "issues": SEED_ISSUES,
    }
    body.update(overrides)
    return body


async def routing_events(redis_client: Redis) -> list[dict[str, Any]]:
    events = []
    for job_id in await redis_client.zrange("routing", 0, -1):
        job = orjson.loads(await redis_client.get(f"arq:job:{job_id.decode()}"))
        events.append(job["a"][0])
    return events


class TestAuth:
    async def test_needs_a_key_scoped_to_the_165_channel(
        self,
        intake_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        cppcc_key: str,
    ) -> None:
        from intake_service.models import ApiKey
        from tests.fixtures.clients import make_key

        assert (await intake_client.get(f"{BASE}/stations")).json()["error"][
            "code"
        ] == "invalid_api_key"
        app_key = await make_key(intake_sessionmaker, ApiKey, "app")
        for response in (
            await get(intake_client, app_key, "/stations"),
            await get(intake_client, app_key, "/summary"),
            await post(intake_client, app_key, "/stations", {"name": "x", "sector": "y"}),
        ):
            assert response.status_code == 403
            error = response.json()["error"]
            assert error["code"] == "channel_not_allowed"
            assert error["message"]
            assert error["message_en"]
        assert (await get(intake_client, cppcc_key, "/stations")).status_code == 200


class TestStations:
    async def test_create_list_and_duplicate_name(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        assert economy["member_count"] == 0
        await station(intake_client, cppcc_key, "工商联界别联络站", "工商联")
        await member(intake_client, cppcc_key, economy["id"])
        await member(intake_client, cppcc_key, economy["id"], "刘卫国", "13811112222")
        again = await post(
            intake_client, cppcc_key, "/stations", {"name": "经济界别联络站", "sector": "经济界"}
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "station_exists"
        listed = (await get(intake_client, cppcc_key, "/stations")).json()
        assert {s["name"]: s["member_count"] for s in listed} == {
            "经济界别联络站": 2,
            "工商联界别联络站": 0,
        }

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"name": "", "sector": "经济界"}, "string_too_short"),
            ({"name": "联络站", "sector": "经济界", "extra": 1}, "extra_forbidden"),
            ({"name": "站" * 101, "sector": "经济界"}, "string_too_long"),
            ({"sector": "经济界"}, "missing"),
        ],
    )
    async def test_bad_input(
        self, intake_client: httpx.AsyncClient, cppcc_key: str, body: dict[str, Any], code: str
    ) -> None:
        response = await post(intake_client, cppcc_key, "/stations", body)
        assert response.status_code == 422, response.text
        assert code in {d["type"] for d in response.json()["error"]["details"]}

    async def test_idempotent_create(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        body = {"name": "农业界别联络站", "sector": "农业界"}
        first = await post(
            intake_client, cppcc_key, "/stations", body, **{"Idempotency-Key": "st-1"}
        )
        second = await post(
            intake_client, cppcc_key, "/stations", body, **{"Idempotency-Key": "st-1"}
        )
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"


class TestMembers:
    async def test_create_get_and_list(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        other = await station(intake_client, cppcc_key, "教育界别联络站", "教育界")
        created = await member(intake_client, cppcc_key, economy["id"], phone="+86 138-1234-5678")
        assert created["phone"] == "13812345678"
        assert created["sector"] == "经济界"  # the station's by default
        assert created["station_name"] == "经济界别联络站"
        explicit = await post(
            intake_client,
            cppcc_key,
            "/members",
            {"name": "周老师", "phone": None, "sector": "教育界(民盟)", "station_id": other["id"]},
        )
        assert explicit.status_code == 201
        assert explicit.json()["sector"] == "教育界(民盟)"
        one = await get(intake_client, cppcc_key, f"/members/{created['id']}")
        assert one.status_code == 200
        assert one.json()["visit_count"] == one.json()["issue_count"] == 0
        everyone = (await get(intake_client, cppcc_key, "/members", with_total=True)).json()
        assert everyone["total"] == 2
        of_station = (
            await get(intake_client, cppcc_key, "/members", station_id=other["id"])
        ).json()
        assert [m["name"] for m in of_station["items"]] == ["周老师"]
        first = (await get(intake_client, cppcc_key, "/members", limit=1, with_total=True)).json()
        assert (first["total"], [m["name"] for m in first["items"]]) == (2, ["张骞"])
        page = (
            await get(intake_client, cppcc_key, "/members", limit=1, cursor=first["next_cursor"])
        ).json()
        assert ([m["name"] for m in page["items"]], page["next_cursor"]) == (["周老师"], None)

    async def test_errors(self, intake_client: httpx.AsyncClient, cppcc_key: str) -> None:
        economy = await station(intake_client, cppcc_key)
        await member(intake_client, cppcc_key, economy["id"])
        unknown_station = await post(
            intake_client,
            cppcc_key,
            "/members",
            {
                "name": "张三",
                "phone": "13800000000",
                "station_id": "00000000-0000-4000-8000-000000000000",
            },
        )
        assert unknown_station.status_code == 422
        assert unknown_station.json()["error"]["code"] == "station_not_found"
        bad_phone = await post(
            intake_client,
            cppcc_key,
            "/members",
            {"name": "张三", "phone": "12345", "station_id": economy["id"]},
        )
        assert bad_phone.status_code == 422
        assert "invalid_phone" in {d["type"] for d in bad_phone.json()["error"]["details"]}
        twice = await post(
            intake_client,
            cppcc_key,
            "/members",
            {"name": "张骞", "phone": "138 1234 5678", "station_id": economy["id"]},
        )
        assert twice.status_code == 409
        assert twice.json()["error"]["code"] == "member_exists"
        missing = await get(
            intake_client, cppcc_key, "/members/00000000-0000-4000-8000-000000000000"
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "member_not_found"
        too_long = await post(
            intake_client, cppcc_key, "/members", {"name": "张" * 51, "station_id": economy["id"]}
        )
        assert too_long.status_code == 422
        assert "string_too_long" in {d["type"] for d in too_long.json()["error"]["details"]}
        assert (await get(intake_client, cppcc_key, "/members/not-a-uuid")).status_code == 422
        assert (await get(intake_client, cppcc_key, "/members", limit=501)).status_code == 422
        assert (await get(intake_client, cppcc_key, "/members", station_id="x")).status_code == 422


class TestImport:
    async def test_imports_all_rows(self, intake_client: httpx.AsyncClient, cppcc_key: str) -> None:
        economy = await station(intake_client, cppcc_key)
        rows = [
            {"name": f"委员{n:03d}", "phone": f"139{n:08d}", "station_id": economy["id"]}
            for n in range(1, 243)
        ]
        response = await post(intake_client, cppcc_key, "/members/import", {"members": rows})
        assert response.status_code == 201, response.text
        assert response.json()["imported"] == 242
        listed = (await get(intake_client, cppcc_key, "/stations")).json()
        assert listed[0]["member_count"] == 242

    async def test_all_or_nothing_with_row_errors(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        await member(intake_client, cppcc_key, economy["id"])
        rows = [
            {
                "name": "张骞",
                "phone": "13812345678",
                "station_id": economy["id"],
            },  # already registered
            {
                "name": "李四",
                "phone": "13800000001",
                "station_id": "00000000-0000-4000-8000-000000000000",
            },
            {"name": "王五", "phone": "13800000002", "station_id": economy["id"]},
            {"name": "王五", "phone": "13800000002", "station_id": economy["id"]},  # same as row 3
        ]
        response = await post(intake_client, cppcc_key, "/members/import", {"members": rows})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "import_rejected"
        assert {(d["row"], d["type"]) for d in error["details"]} == {
            (1, "member_exists"),
            (2, "station_not_found"),
            (4, "duplicate_row"),
        }
        assert len((await get(intake_client, cppcc_key, "/members")).json()["items"]) == 1

    async def test_invalid_rows_and_size_limits(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        rows = [
            {"name": "甲", "phone": "13800000001", "station_id": economy["id"]},
            {"name": "乙", "phone": "110", "station_id": economy["id"]},
        ]
        response = await post(intake_client, cppcc_key, "/members/import", {"members": rows})
        assert response.status_code == 422
        details = response.json()["error"]["details"]
        assert ["body", "members", "1", "phone"] in [d["loc"] for d in details]
        too_many = [{"name": "甲", "station_id": economy["id"]}] * 501
        assert (
            await post(intake_client, cppcc_key, "/members/import", {"members": too_many})
        ).status_code == 422
        assert (
            await post(intake_client, cppcc_key, "/members/import", {"members": []})
        ).status_code == 422
        assert (await get(intake_client, cppcc_key, "/members")).json()["items"] == []


class TestVisits:
    async def test_three_issues_become_three_attributed_requests(
        self, intake_client: httpx.AsyncClient, cppcc_key: str, redis_client: Redis
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        zhang = await member(intake_client, cppcc_key, economy["id"])
        response = await post(intake_client, cppcc_key, "/visits", visit_body(zhang["id"]))
        assert response.status_code == 201, response.text
        visit = response.json()
        assert visit["issue_count"] == 3
        assert visit["member_name"] == "张骞"
        assert visit["station_name"] == "经济界别联络站"
        receipts = visit["receipts"]
        assert [r["topic"] for r in receipts] == ["transport", "funds", "environment"]
        assert receipts[2]["topic_suggested"] is True
        assert all(r["status"] == "received" and r["tracking_secret"] for r in receipts)

        events = await routing_events(redis_client)
        assert [e["type"] for e in events] == ["request.submitted"] * 3
        by_tracking_no = {e["data"]["tracking_no"]: e["data"] for e in events}
        assert set(by_tracking_no) == {r["tracking_no"] for r in receipts}
        for data in by_tracking_no.values():
            assert data["channel"] == "cppcc_165"
            assert data["cppcc_member_id"] == zhang["id"]
            assert data["cppcc_visit_id"] == visit["id"]
            assert data["submitter"]["kind"] == "enterprise"
            assert data["submitter"]["uscc"] == uscc(1)
            assert data["submitter"]["enterprise_name"] == "新兴国际商贸物流中心"
            assert data["location"]["area_code"] == "130404-park"
        funds = by_tracking_no[receipts[1]["tracking_no"]]
        assert funds["urgency"] == "urgent"
        assert funds["submitter"]["phone"] == "13900001111"
        assert (
            by_tracking_no[receipts[2]["tracking_no"]]["location"]["address"]
            == "邯山区浙江商贸城东门"
        )

        # The enterprise's contact can track the request like any other.
        tracked = await intake_client.get(
            f"/v1/requests/{receipts[0]['tracking_no']}",
            headers={"X-Tracking-Secret": receipts[0]["tracking_secret"]},
        )
        assert tracked.status_code == 200
        assert tracked.json()["channel"] == "cppcc_165"

        detail = await get(intake_client, cppcc_key, f"/visits/{visit['id']}")
        assert detail.status_code == 200
        requests = detail.json()["requests"]
        assert [r["tracking_no"] for r in requests] == [r["tracking_no"] for r in receipts]
        assert {r["status_label"] for r in requests} == {"已受理"}
        one = (await get(intake_client, cppcc_key, f"/members/{zhang['id']}")).json()
        assert (one["visit_count"], one["issue_count"]) == (1, 3)

    async def test_merchant_without_code_submits_as_person_and_visit_without_issues(
        self, intake_client: httpx.AsyncClient, cppcc_key: str, redis_client: Redis
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        zhang = await member(intake_client, cppcc_key, economy["id"])
        body = visit_body(
            zhang["id"],
            target_kind="merchant",
            target_name="老王烧饼店",
            uscc=None,
            issues=SEED_ISSUES[2:],
        )
        response = await post(intake_client, cppcc_key, "/visits", body)
        assert response.status_code == 201, response.text
        visit_id = response.json()["id"]
        (event,) = [
            e
            for e in await routing_events(redis_client)
            if e["data"].get("cppcc_visit_id") == visit_id
        ]
        assert event["data"]["submitter"]["kind"] == "person"
        assert event["data"]["submitter"]["uscc"] is None
        empty = await post(intake_client, cppcc_key, "/visits", visit_body(zhang["id"], issues=[]))
        assert empty.status_code == 201
        assert empty.json()["issue_count"] == 0
        assert empty.json()["receipts"] == []
        assert await redis_client.zcard("routing") == 1

    @pytest.mark.parametrize(
        ("override", "code"),
        [
            (
                {"visited_on": (date.today() + timedelta(days=2)).isoformat()},
                "visited_on_in_future",
            ),
            ({"visited_on": "1999-12-31"}, "visited_on_too_early"),
            ({"visited_on": "2025-02-30"}, "date_from_datetime_parsing"),
            ({"uscc": "91130404MA0CTE1N10"}, "invalid_uscc"),
            ({"uscc": "91130404MA0CTO1N1Z"}, "invalid_uscc"),
            ({"target_kind": "factory"}, "enum"),
            ({"target_name": ""}, "string_too_short"),
            ({"area_code": "街道 1"}, "string_pattern_mismatch"),
            ({"issues": SEED_ISSUES * 7}, "too_long"),
            (
                {"issues": [{**SEED_ISSUES[0], "contact": {"name": "李经理", "phone": "12345"}}]},
                "invalid_phone",
            ),
            ({"issues": [{k: v for k, v in SEED_ISSUES[0].items() if k != "contact"}]}, "missing"),
            ({"issues": [{**SEED_ISSUES[0], "topic": "weather"}]}, "enum"),
            ({"issues": [{**SEED_ISSUES[0], "contact": contact("李" * 51)}]}, "string_too_long"),
            ({"target_name": "商" * 201}, "string_too_long"),
            ({"member_id": "nope"}, "uuid_parsing"),
            ({"extra": True}, "extra_forbidden"),
        ],
    )
    async def test_bad_input_is_422_with_a_stable_code(
        self,
        intake_client: httpx.AsyncClient,
        cppcc_key: str,
        redis_client: Redis,
        override: dict[str, Any],
        code: str,
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        zhang = await member(intake_client, cppcc_key, economy["id"])
        response = await post(
            intake_client, cppcc_key, "/visits", visit_body(zhang["id"], **override)
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["message"]
        assert error["message_en"]
        assert code in {d["type"] for d in error["details"]}, error["details"]
        assert await redis_client.zcard("routing") == 0

    async def test_unknown_member_and_visit(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        response = await post(
            intake_client, cppcc_key, "/visits", visit_body("00000000-0000-4000-8000-000000000000")
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "member_not_found"
        missing = await get(
            intake_client, cppcc_key, "/visits/00000000-0000-4000-8000-000000000000"
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "visit_not_found"

    async def test_retried_visit_creates_nothing(
        self, intake_client: httpx.AsyncClient, cppcc_key: str, redis_client: Redis
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        zhang = await member(intake_client, cppcc_key, economy["id"])
        body = visit_body(zhang["id"])
        first = await post(
            intake_client, cppcc_key, "/visits", body, **{"Idempotency-Key": "visit-0807"}
        )
        second = await post(
            intake_client, cppcc_key, "/visits", body, **{"Idempotency-Key": "visit-0807"}
        )
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert await redis_client.zcard("routing") == 3
        assert len((await get(intake_client, cppcc_key, "/visits")).json()["items"]) == 1
        changed = await post(
            intake_client,
            cppcc_key,
            "/visits",
            visit_body(zhang["id"], issues=[]),
            **{"Idempotency-Key": "visit-0807"},
        )
        assert changed.status_code == 422
        assert changed.json()["error"]["code"] == "idempotency_key_reused"

    async def test_list_filters_and_pagination(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        education = await station(intake_client, cppcc_key, "教育界别联络站", "教育界")
        zhang = await member(intake_client, cppcc_key, economy["id"])
        zhou = await member(intake_client, cppcc_key, education["id"], "周老师", "13700000000")
        day = today() - timedelta(days=10)
        plan = [
            (zhang, "enterprise", "飞翔科技", 0),
            (zhang, "merchant", "浙江商贸城某商户", 2),
            (zhou, "enterprise", "红旗家具", 5),
        ]
        for who, kind, name, offset in plan:
            body = visit_body(
                who["id"],
                target_kind=kind,
                target_name=name,
                uscc=None,
                issues=[],
                visited_on=(day + timedelta(days=offset)).isoformat(),
            )
            assert (await post(intake_client, cppcc_key, "/visits", body)).status_code == 201

        async def names(**params: Any) -> list[str]:
            response = await get(intake_client, cppcc_key, "/visits", **params)
            assert response.status_code == 200, response.text
            return [v["target_name"] for v in response.json()["items"]]

        assert await names() == ["红旗家具", "浙江商贸城某商户", "飞翔科技"]  # newest first
        assert await names(member_id=zhang["id"]) == ["浙江商贸城某商户", "飞翔科技"]
        assert await names(station_id=education["id"]) == ["红旗家具"]
        assert await names(target_kind="merchant") == ["浙江商贸城某商户"]
        assert await names(
            start=(day + timedelta(days=1)).isoformat(), end=(day + timedelta(days=4)).isoformat()
        ) == ["浙江商贸城某商户"]
        first = (await get(intake_client, cppcc_key, "/visits", limit=1, with_total=True)).json()
        page = (
            await get(intake_client, cppcc_key, "/visits", limit=1, cursor=first["next_cursor"])
        ).json()
        assert (first["total"], [v["target_name"] for v in page["items"]]) == (
            3,
            ["浙江商贸城某商户"],
        )
        assert (await get(intake_client, cppcc_key, "/visits", limit=201)).status_code == 422
        # The offset style is gone: an offset is refused, not silently ignored.
        assert (await get(intake_client, cppcc_key, "/visits", offset=1)).status_code == 422
        assert (
            await get(intake_client, cppcc_key, "/visits", target_kind="factory")
        ).status_code == 422
        backwards = await get(
            intake_client, cppcc_key, "/visits", start="2026-02-01", end="2026-01-01"
        )
        assert backwards.status_code == 422
        assert backwards.json()["error"]["code"] == "invalid_date_range"


class TestSummary:
    async def test_distinct_targets_topics_and_statuses(
        self, intake_client: httpx.AsyncClient, cppcc_key: str
    ) -> None:
        economy = await station(intake_client, cppcc_key)
        await station(intake_client, cppcc_key, "教育界别联络站", "教育界")
        zhang = await member(intake_client, cppcc_key, economy["id"])
        await member(intake_client, cppcc_key, economy["id"], "刘卫国", "13811112222")
        recent = (today() - timedelta(days=5)).isoformat()
        old = (today() - timedelta(days=400)).isoformat()
        visits = [
            # The same enterprise twice (by credit code, names differ) counts once.
            visit_body(zhang["id"], visited_on=recent),
            visit_body(
                zhang["id"], target_name="新兴国际", issues=SEED_ISSUES[:1], visited_on=recent
            ),
            # Without a code, the same name counts once.
            visit_body(zhang["id"], target_name="康尔耐", uscc=None, issues=[], visited_on=recent),
            visit_body(zhang["id"], target_name="康尔耐", uscc=None, issues=[], visited_on=recent),
            visit_body(
                zhang["id"],
                target_kind="merchant",
                target_name="老王烧饼店",
                uscc=None,
                issues=[],
                visited_on=recent,
            ),
            visit_body(
                zhang["id"],
                target_kind="merchant",
                target_name="香草湖超市",
                uscc=uscc(2),
                issues=[],
                visited_on=recent,
            ),
            visit_body(
                zhang["id"],
                target_name="红旗家具",
                uscc=uscc(3),
                issues=SEED_ISSUES[1:2],
                visited_on=old,
            ),
        ]
        for body in visits:
            assert (await post(intake_client, cppcc_key, "/visits", body)).status_code == 201
        everything = (await get(intake_client, cppcc_key, "/summary")).json()
        assert everything["stations"] == 2
        assert everything["members"] == 2
        assert everything["active_members"] == 1
        assert everything["visits"] == 7
        assert everything["enterprises_visited"] == 3
        assert everything["merchants_visited"] == 2
        assert everything["issues_collected"] == 5
        assert everything["by_topic"]["transport"] == 2
        assert everything["by_topic"]["funds"] == 2
        assert everything["by_topic"]["environment"] == 1
        assert everything["by_topic"]["land"] == 0
        # The second transport issue repeats the first from the same enterprise: a duplicate.
        assert everything["by_status"]["received"] == 4
        assert everything["by_status"]["duplicate"] == 1
        assert everything["pending"] == 4
        assert everything["answered_closed"] == 0
        window = (
            await get(
                intake_client,
                cppcc_key,
                "/summary",
                start=(today() - timedelta(days=30)).isoformat(),
                end=today().isoformat(),
            )
        ).json()
        assert (window["visits"], window["enterprises_visited"], window["issues_collected"]) == (
            6,
            2,
            4,
        )
        by_station = (
            await get(intake_client, cppcc_key, "/summary", station_id=economy["id"])
        ).json()
        assert (by_station["stations"], by_station["visits"]) == (1, 7)
        backwards = await get(
            intake_client, cppcc_key, "/summary", start="2026-02-01", end="2026-01-01"
        )
        assert backwards.status_code == 422
        assert backwards.json()["error"]["code"] == "invalid_date_range"
        assert (
            await get(intake_client, cppcc_key, "/summary", start="yesterday")
        ).status_code == 422

    async def test_the_seed_figures_from_real_visits(
        self,
        intake_client: httpx.AsyncClient,
        cppcc_key: str,
        intake_sessionmaker: AsyncSessionMaker,
    ) -> None:
        """31 enterprises visited, 56 issues collected (land, funds, transport, environment,
        power), 52 answered and closed: counted from visits and the requests' statuses."""
        from intake_service.issue.service import issue_service
        from services.models import utcnow
        from shared.enums import RequestStatus
        from shared.events import CaseStatusChanged

        economy = await station(intake_client, cppcc_key)
        zhang = await member(intake_client, cppcc_key, economy["id"])
        texts = {
            "land": (
                "厂房扩建用地指标不足",
                "企业计划扩建二期厂房,但用地指标迟迟没有落实,请协调规划部门。",
            ),
            "funds": (
                "流动资金贷款难",
                "订单增加后流动资金紧张,银行授信额度偏低,希望对接金融机构支持。",
            ),
            "transport": (
                "园区道路破损",
                "园区主干道路面坑洼,大货车通行困难,雨天积水严重,请安排维修。",
            ),
            "environment": (
                "周边垃圾清运不及时",
                "厂区北侧空地堆放生活垃圾,夏季气味很大,请环卫部门清理。",
            ),
            "electricity": (
                "厂区频繁停电",
                "本月厂区已经停电三次,生产线被迫停工,请供电公司排查线路。",
            ),
        }
        topics = list(texts)
        tracking: list[tuple[str, str]] = []
        serial = 0
        for n in range(31):
            issues = []
            for k in range(2 if n < 25 else 1):
                topic = topics[serial % len(topics)]
                title, description = texts[topic]
                issues.append(
                    {
                        "type": ("help", "suggestion")[k],
                        "topic": topic,
                        "title": title,
                        "description": description,
                        "contact": contact(phone=f"137{serial:08d}"),
                    }
                )
                serial += 1
            body = visit_body(
                zhang["id"], target_name=f"企业{n:02d}", uscc=uscc(100 + n), issues=issues
            )
            response = await post(intake_client, cppcc_key, "/visits", body)
            assert response.status_code == 201, response.text
            tracking += [(r["id"], r["tracking_no"]) for r in response.json()["receipts"]]
        assert len(tracking) == 56

        outcome = (
            [RequestStatus.answered] * 10
            + [RequestStatus.completed] * 12
            + [RequestStatus.closed] * 30
        )
        outcome += [RequestStatus.in_progress] * 3 + [RequestStatus.dispatched]
        async with intake_sessionmaker() as session:
            for (request_id, tracking_no), status in zip(tracking, outcome, strict=True):
                await issue_service.apply_status(
                    session,
                    CaseStatusChanged(
                        request_id=request_id,
                        tracking_no=tracking_no,
                        status=status,
                        changed_at=utcnow(),
                    ),
                )
            await session.commit()

        summary = (await get(intake_client, cppcc_key, "/summary")).json()
        assert summary["enterprises_visited"] == 31
        assert summary["merchants_visited"] == 0
        assert summary["issues_collected"] == 56
        assert summary["answered_closed"] == 52
        assert summary["pending"] == 4
        assert {t for t, count in summary["by_topic"].items() if count} == set(topics)
        assert sum(summary["by_topic"].values()) == 56
