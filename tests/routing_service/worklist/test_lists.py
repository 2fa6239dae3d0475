"""The case and card lists: filters, search, keyset pages, and the bad input they refuse."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from routing_service.models import Card
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.enums import Channel, RequestType, SubmitterKind, Topic, Urgency
from shared.events import Location, SubmitterInfo
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, ok, verify_and_dispatch

USCC = "91130404MA0CTE1N15"


async def listing(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> Any:
    return await ok(await client.get(path, params=params, headers=headers))


async def every_page(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    between: Any = None,
    **params: Any,
) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = await listing(
            client, path, headers, **params, **({"cursor": cursor} if cursor else {})
        )
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            await between()


@pytest.fixture
async def seeded(
    routing_sessionmaker: AsyncSessionMaker, routing_client: httpx.AsyncClient, org: Org
) -> dict[str, Any]:
    """Cases of several kinds; two dispatched to 区交通运输局, one to 光明路街道."""
    ids: dict[str, Any] = {}
    ids["water"] = await arrive(routing_sessionmaker, topic=Topic.water, channel=Channel.hotline,
                                type=RequestType.complaint, urgency=Urgency.urgent,
                                title="小区停水三天", description="光明大街东侧小区三天停水无人处理")  # fmt: skip
    ids["enterprise"] = await arrive(
        routing_sessionmaker, topic=Topic.permit, title="施工许可审批进度",
        description="项目施工许可材料已提交二十个工作日,询问审批进度",
        submitter=SubmitterInfo(kind=SubmitterKind.enterprise, name="李四", phone="13900000000",
                                uscc=USCC, enterprise_name="邯郸新兴国际物流有限公司"),
    )  # fmt: skip
    ids["person"] = await arrive(routing_sessionmaker, submitter=SubmitterInfo(kind=SubmitterKind.person, name="王五"),
                                 title="路灯不亮", description="光明路夜间路灯不亮存在安全隐患",
                                 location=Location(address="光明路与中华大街交叉口", area_code="HS-GM"))  # fmt: skip
    ids["bus"] = [await arrive(routing_sessionmaker) for _ in range(2)]
    ids["jt_cards"] = [
        (await verify_and_dispatch(routing_client, org, case_id))["cards"][0]["id"]
        for case_id in ids["bus"]
    ]
    street = await verify_and_dispatch(
        routing_client, org, ids["person"], units=[{"unit_code": "HS-GM"}]
    )
    ids["gm_card"] = street["cards"][0]["id"]
    return ids


class TestFilters:
    async def test_each_filter_narrows_to_its_cases(
        self, routing_client: httpx.AsyncClient, org: Org, seeded: dict[str, Any]
    ) -> None:
        admin = org.auth("hs_operator")

        async def ids(**params: Any) -> set[str]:
            return {
                c["id"]
                for c in (await listing(routing_client, "/v1/cases", admin, limit=200, **params))[
                    "items"
                ]
            }

        assert await ids(topic="water") == {str(seeded["water"])}
        assert await ids(channel="hotline", type="complaint", urgency="urgent") == {
            str(seeded["water"])
        }
        assert await ids(uscc=USCC) == {str(seeded["enterprise"])}
        assert str(seeded["person"]) in await ids(submitter_kind="person")
        assert str(seeded["person"]) not in await ids(submitter_kind="enterprise")
        assert await ids(status=["pending_verification"]) == {
            str(seeded["water"]),
            str(seeded["enterprise"]),
        }
        assert await ids(status=["pending_verification", "dispatched"]) == await ids()
        assert await ids(unit_code="DEPT-JT") == {str(c) for c in seeded["bus"]}
        assert await ids(area="HS-GM") == {str(seeded["person"])}
        today = utcnow().date()
        assert len(await ids(received_from=str(today - timedelta(days=1)))) == 5
        assert await ids(received_to=str(today - timedelta(days=2))) == set()
        assert await ids(redo_min=1) == set()

    async def test_card_filters_and_due_states(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org,
        seeded: dict[str, Any],
    ) -> None:  # fmt: skip
        late, on_time = seeded["jt_cards"]
        async with routing_sessionmaker() as session:
            await session.execute(update(Card).where(Card.id == uuid.UUID(late))
                                  .values(due_at=utcnow() - timedelta(hours=1), supervision_level="red"))  # fmt: skip
            await session.commit()
        center = org.auth("hs_supervisor")

        async def ids(**params: Any) -> list[str]:
            return [
                c["id"]
                for c in (await listing(routing_client, "/v1/cards", center, **params))["items"]
            ]

        assert await ids(due_state="overdue") == [late]
        assert await ids(ladder=["red"]) == [late]
        assert set(await ids(unit_code="DEPT-JT")) == {late, on_time}
        assert await ids(area="HS-GM") == [seeded["gm_card"]]
        assert await ids(topic="water") == []
        # Sorted by due (the default): the overdue card first.
        assert (await ids(unit_code="DEPT-JT"))[0] == late
        assert (await ids(unit_code="DEPT-JT", sort="-due"))[-1] == late
        await ok(
            await routing_client.post(f"/v1/cards/{on_time}/sign", headers=org.auth("jt_liaison"))
        )
        await ok(await routing_client.post(f"/v1/cards/{on_time}/extensions", headers=org.auth("jt_liaison"),
                                           json={"days": 3, "reason": "需协调供电部门现场勘察"}), 201)  # fmt: skip
        assert await ids(extension="pending") == [on_time]
        assert set(await ids(extension="none")) == {late, seeded["gm_card"]}

    async def test_a_department_lists_its_own_cards_only(
        self, routing_client: httpx.AsyncClient, org: Org, seeded: dict[str, Any]
    ) -> None:
        mine = await listing(routing_client, "/v1/cards", org.auth("jt_liaison"), unit_code="HS-GM")
        assert mine["items"] == []  # another unit asked for: nothing, not the other unit's
        mine = await listing(routing_client, "/v1/cards", org.auth("jt_liaison"))
        assert {c["id"] for c in mine["items"]} == set(seeded["jt_cards"])
        street = await listing(routing_client, "/v1/cases", org.auth("gm_operator"))
        assert [c["id"] for c in street["items"]] == [str(seeded["person"])]


class TestSearch:
    async def test_two_and_four_character_chinese_substrings(
        self, routing_client: httpx.AsyncClient, org: Org, seeded: dict[str, Any]
    ) -> None:
        center = org.auth("hs_operator")
        found = await listing(routing_client, "/v1/cases", center, q="停水")
        assert [c["id"] for c in found["items"]] == [str(seeded["water"])]
        found = await listing(routing_client, "/v1/cases", center, q="许可审批")
        assert [c["id"] for c in found["items"]] == [str(seeded["enterprise"])]
        # Every bigram of "水三天停" occurs in the water case (水三, 三天 in the title, 天停 in the
        # description), so the index offers it; it is not a substring, so it is not a match.
        assert (await listing(routing_client, "/v1/cases", center, q="水三天停"))["items"] == []
        assert (await listing(routing_client, "/v1/cases", center, q="新兴国际物流"))["items"][0][
            "id"
        ] == str(seeded["enterprise"])

    async def test_ranked_title_before_description(
        self, routing_client: httpx.AsyncClient, org: Org, seeded: dict[str, Any]
    ) -> None:
        # "路灯" is the title of one case; "光明" appears in two descriptions and one address.
        found = await listing(routing_client, "/v1/cases", org.auth("hs_operator"), q="光明")
        assert {c["id"] for c in found["items"]} >= {str(seeded["water"]), str(seeded["person"])}
        assert found["items"][0]["id"] == str(seeded["person"])  # address and description

    async def test_relevance_is_the_best_field_then_newest_and_pages_cross_tiers(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        """Title hits first, then enterprise or tracking number, address, text; newest first
        within a tier; a page boundary inside or between tiers loses and repeats nothing, also
        while matching rows arrive between pages."""
        text = [await arrive(routing_sessionmaker, title=f"反映问题{i}",
                             description="园区门口积水严重影响通行") for i in range(3)]  # fmt: skip
        title = [await arrive(routing_sessionmaker, title="积水问题反映",
                              description="下雨后门口路面") for _ in range(2)]  # fmt: skip
        named = await arrive(routing_sessionmaker, title="企业诉求", description="见附件",
                             submitter=SubmitterInfo(kind=SubmitterKind.enterprise, uscc=USCC,
                                                     enterprise_name="积水科技有限公司"))  # fmt: skip
        center = org.auth("hs_operator")
        order = [c["id"] for c in (await listing(routing_client, "/v1/cases", center,
                                                 q="积水"))["items"]]  # fmt: skip
        assert order == [str(i) for i in [*reversed(title), named, *reversed(text)]]
        arrived: list[str] = []

        async def another() -> None:
            arrived.append(str(await arrive(routing_sessionmaker, title="又一处积水")))

        for limit in (1, 2, 4):
            seen = await every_page(routing_client, "/v1/cases", center, another, q="积水",
                                    limit=limit)  # fmt: skip
            assert len(seen) == len(set(seen)), "a row came twice"
            assert [s for s in seen if s not in arrived] == order, "a row was skipped or moved"

    async def test_a_latin_query_matches_whatever_the_case(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(routing_sessionmaker, title="ETC 通行卡无法充值")
        for q in ("etc", "ETC", "Etc 通行"):
            found = await listing(routing_client, "/v1/cases", org.auth("hs_operator"), q=q)
            assert [c["id"] for c in found["items"]] == [str(case_id)], q

    async def test_search_is_scoped(
        self, routing_client: httpx.AsyncClient, org: Org, seeded: dict[str, Any]
    ) -> None:
        street = org.auth("gm_operator")
        assert (await listing(routing_client, "/v1/cases", street, q="停水"))["items"] == []
        found = await listing(routing_client, "/v1/cases", street, q="路灯")
        assert [c["id"] for c in found["items"]] == [str(seeded["person"])]
        assert (await listing(routing_client, "/v1/cases", org.auth("jt_liaison"), q="路灯"))[
            "items"
        ] == []


class TestKeysetPages:
    @pytest.mark.parametrize(
        "sort", ["received", "-received", "updated", "-updated", "due", "-due"]
    )
    async def test_every_row_once_while_rows_are_inserted(
        self,
        sort: str,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        org: Org,
    ) -> None:
        before = {str(await arrive(routing_sessionmaker)) for _ in range(11)}
        inserted: list[str] = []

        async def insert() -> None:
            inserted.append(str(await arrive(routing_sessionmaker)))

        seen = await every_page(
            routing_client, "/v1/cases", org.auth("hs_operator"), insert, limit=3, sort=sort
        )
        assert len(seen) == len(set(seen)), "a row came twice"
        assert before <= set(seen), "a row was skipped"
        assert set(seen) <= before | set(inserted)

    async def test_cases_sorted_by_what_they_wait_on(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        dispatched = await arrive(routing_sessionmaker)
        card = (await verify_and_dispatch(routing_client, org, dispatched))["cards"][0]
        pending = await arrive(routing_sessionmaker)  # verification is due within a working day
        center = org.auth("hs_operator")
        order = [
            c["id"]
            for c in (await listing(routing_client, "/v1/cases", center, sort="due"))["items"]
        ]
        assert order == [str(pending), str(dispatched)]
        # The card's deadline moves (an extension): the case follows at the next flush.
        await ok(
            await routing_client.post(
                f"/v1/cards/{card['id']}/sign", headers=org.auth("jt_liaison")
            )
        )
        extension = await ok(await routing_client.post(
            f"/v1/cards/{card['id']}/extensions", headers=org.auth("jt_liaison"),
            json={"days": 5, "reason": "需要协调多个部门现场勘察"}), 201)  # fmt: skip
        await ok(await routing_client.post(
            f"/v1/cards/{card['id']}/extensions/{extension['id']}/decide",
            headers=org.auth("hs_supervisor"), json={"approve": True}))  # fmt: skip
        after = await ok(await routing_client.get(f"/v1/cases/{dispatched}", headers=center))
        order = [
            c["id"]
            for c in (await listing(routing_client, "/v1/cases", center, sort="-due"))["items"]
        ]
        assert order == [str(dispatched), str(pending)]
        assert after["cards"][0]["due_at"] > card["due_at"]

    async def test_cards_page_by_due(
        self, routing_client: httpx.AsyncClient, org: Org, seeded: dict[str, Any]
    ) -> None:
        seen = await every_page(routing_client, "/v1/cards", org.auth("hs_operator"), limit=1)
        assert sorted(seen) == sorted([*seeded["jt_cards"], seeded["gm_card"]])

    async def test_total_only_when_asked(
        self, routing_client: httpx.AsyncClient, org: Org, seeded: dict[str, Any]
    ) -> None:
        assert (await listing(routing_client, "/v1/cases", org.auth("hs_operator"), limit=1))[
            "total"
        ] is None
        page = await listing(
            routing_client, "/v1/cases", org.auth("hs_operator"), limit=1, with_total="true"
        )
        assert (page["total"], len(page["items"])) == (5, 1)


class TestBadInput:
    async def _error(
        self,
        client: httpx.AsyncClient,
        org: Org,
        expect: int,
        path: str = "/v1/cases",
        **params: Any,
    ) -> str:
        response = await client.get(path, params=params, headers=org.auth("hs_operator"))
        assert response.status_code == expect, response.text
        return str(response.json()["error"]["code"])

    async def test_unknown_filters_and_values(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        assert await self._error(routing_client, org, 422, status="nonsense") == "validation_error"
        assert await self._error(routing_client, org, 422, topic="weather") == "validation_error"
        assert await self._error(routing_client, org, 422, offset="50") == "validation_error"
        assert await self._error(routing_client, org, 422, uscc="123") == "validation_error"
        assert (
            await self._error(routing_client, org, 422, path="/v1/cards", sort="relevance")
            == "validation_error"
        )

    async def test_backwards_range(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        code = await self._error(
            routing_client, org, 422, received_from="2026-12-06", received_to="2026-12-01"
        )
        assert code == "invalid_date_range"
        assert await self._error(routing_client, org, 422, path="/v1/cards", due_from="2026-12-06",
                                 due_to="2026-12-01") == "invalid_date_range"  # fmt: skip

    @pytest.mark.parametrize("q", ["", " ", "停", "x" * 51, "停水\n", "停\x00水"])
    async def test_bad_queries(self, q: str, routing_client: httpx.AsyncClient, org: Org) -> None:
        code = await self._error(routing_client, org, 422, q=q)
        assert code in {"invalid_search_query", "validation_error"}

    async def test_tampered_and_foreign_cursors(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        for _ in range(3):
            await arrive(routing_sessionmaker)
        cursor = (await listing(routing_client, "/v1/cases", org.auth("hs_operator"), limit=1))[
            "next_cursor"
        ]
        assert cursor
        body, signature = cursor.split(".")
        forged = ("A" if body[0] != "A" else "B") + body[1:] + "." + signature
        assert (
            await self._error(routing_client, org, 400, limit=1, cursor=forged) == "invalid_cursor"
        )
        assert (
            await self._error(routing_client, org, 400, limit=1, cursor="garbage")
            == "invalid_cursor"
        )
        assert (
            await self._error(routing_client, org, 400, limit=1, cursor=cursor, topic="water")
            == "cursor_query_mismatch"
        )
        assert await self._error(routing_client, org, 400, path="/v1/cards", cursor=cursor) in {
            "invalid_cursor", "cursor_query_mismatch"}  # fmt: skip
        # Another caller's cursor is another query.
        other = await routing_client.get(
            "/v1/cases", params={"limit": 1, "cursor": cursor}, headers=org.auth("hs_supervisor")
        )
        assert other.status_code == 400
        assert other.json()["error"]["code"] == "cursor_query_mismatch"
