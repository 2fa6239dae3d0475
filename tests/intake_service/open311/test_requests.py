"""POST and GET requests, requests/{id}, tokens, and how status changes show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from intake_service.issue.service import issue_service
from intake_service.models import ApiKey, Issue
from intake_service.open311.service import CLOSED_STATUSES, open311_status
from services.db import AsyncSessionMaker
from shared.enums import RequestStatus, Urgency
from shared.events import CaseStatusChanged
from tests.fixtures.clients import make_key
from tests.intake_service.open311.helpers import (
    V2,
    assert_errors,
    create,
    get_one,
    parse_xml,
    post_request,
)


async def routing_events(redis_client: Redis) -> list[dict[str, Any]]:
    events = []
    for job_id in await redis_client.zrange("routing", 0, -1):
        job = orjson.loads(await redis_client.get(f"arq:job:{job_id.decode()}"))
        events.append(job["a"][0])
    return events


async def issue_row(sessionmaker: AsyncSessionMaker, tracking_no: str) -> Issue:
    async with sessionmaker() as session:
        issue = await session.scalar(select(Issue).where(Issue.tracking_no == tracking_no))
        assert issue is not None
        return issue


async def set_row(sessionmaker: AsyncSessionMaker, tracking_no: str, **values: Any) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(Issue).where(Issue.tracking_no == tracking_no).values(**values)
        )
        await session.commit()


async def change_status(
    sessionmaker: AsyncSessionMaker, tracking_no: str, status: RequestStatus, **fields: Any
) -> CaseStatusChanged:
    issue = await issue_row(sessionmaker, tracking_no)
    change = CaseStatusChanged(
        request_id=issue.id,
        tracking_no=tracking_no,
        status=status,
        changed_at=fields.pop("changed_at", datetime.now(UTC)),
        **fields,
    )
    async with sessionmaker() as session:
        await issue_service.apply_status(session, change)
        await session.commit()
    return change


class TestPost:
    async def test_creates_a_request_visible_through_open311(
        self, intake_client: httpx.AsyncClient, channel_key: str, redis_client: Redis
    ) -> None:
        response = await post_request(intake_client, channel_key)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        (receipt,) = response.json()
        service_request_id = receipt["service_request_id"]
        assert service_request_id.startswith("YS")
        assert len(service_request_id) == 16
        assert "已受理" in receipt["service_notice"]
        assert "token" not in receipt

        view = await get_one(intake_client, service_request_id)
        assert view["service_request_id"] == service_request_id
        assert view["status"] == "open"
        assert view["status_notes"] == "已受理"
        assert view["service_code"] == "transport"
        assert view["service_name"] == "交通"
        assert view["description"].startswith("新兴国际商贸物流中心一带公交班次少")
        assert view["address"] == "邯山区新兴国际商贸物流中心"
        assert view["lat"] == 36.58
        assert view["long"] == 114.51
        assert view["media_url"] == "https://example.org/photo.jpg"
        assert view["requested_datetime"].endswith("Z")
        assert datetime.fromisoformat(view["requested_datetime"]) <= datetime.fromisoformat(
            view["updated_datetime"]
        )
        for absent in ("agency_responsible", "expected_datetime", "token"):
            assert absent not in view

        (event,) = await routing_events(redis_client)
        assert event["type"] == "request.submitted"
        data = event["data"]
        assert data["tracking_no"] == service_request_id
        assert data["channel"] == "open311"
        assert data["type"] == "complaint"
        assert data["topic"] == "transport"
        assert data["topic_suggested"] is False
        assert data["urgency"] == "normal"
        assert data["title"] == "新兴国际商贸物流中心一带公交班次少,希望增加公交班次、提高园"
        assert data["anonymous"] is False
        assert data["submitter"]["name"] == "张三"
        assert data["submitter"]["phone"] == "13812345678"
        assert data["location"]["address"] == "邯山区新兴国际商贸物流中心"
        assert data["attachments"] == ["https://example.org/photo.jpg"]

    async def test_xml_answer(self, intake_client: httpx.AsyncClient, channel_key: str) -> None:
        response = await post_request(intake_client, channel_key, "xml")
        assert response.status_code == 200, response.text
        (request,) = parse_xml(response)["service_requests"]["request"]
        assert request["service_request_id"].startswith("YS")
        assert request["service_notice"]
        view = parse_xml(
            await intake_client.get(f"{V2}/requests/{request['service_request_id']}.xml")
        )
        (shown,) = view["service_requests"]["request"]
        assert shown["status"] == "open"
        assert shown["lat"] == "36.58"

    async def test_attributes_anonymous_and_enterprise(
        self,
        intake_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
    ) -> None:
        key = await make_key(intake_sessionmaker, ApiKey, "open311")
        await create(
            intake_client,
            key,
            phone=None,
            first_name=None,
            last_name=None,
            description="停电",
            **{"attribute[request_type]": "help", "attribute[urgency]": Urgency.urgent.label_zh},
        )
        await create(
            intake_client,
            key,
            service_code="permit",
            description=None,
            lat=None,
            long=None,
            address_id="130404001",
            **{
                "attribute[request_type]": "consult",
                "attribute[uscc]": "91130404MA0CTE1N15",
                "attribute[enterprise_name]": "邯郸制药",
            },
        )
        anonymous, enterprise = (event["data"] for event in await routing_events(redis_client))
        assert anonymous["anonymous"] is True
        assert anonymous["type"] == "help"
        assert anonymous["urgency"] == "urgent"
        assert anonymous["title"] == "停电"
        assert anonymous["description"] == "交通求助:停电"
        assert enterprise["submitter"]["kind"] == "enterprise"
        assert enterprise["submitter"]["uscc"] == "91130404MA0CTE1N15"
        assert enterprise["title"] == "审批手续咨询"
        assert enterprise["description"].startswith("审批手续咨询(")
        assert enterprise["location"]["area_code"] == "130404001"

    @pytest.mark.parametrize(
        ("description", "suggested"),
        [
            ("举报园区附近有黑作坊夜间偷排污水,请查处。", "report"),
            ("请问办理施工许可需要哪些材料?", "consult"),
            ("窗口工作人员推诿扯皮,多次反映无人处理,投诉。", "complaint"),
            ("小区门口的路灯坏了。", "help"),  # says nothing about its type: the policy's 求助
        ],
    )
    async def test_minimal_app_without_attributes_gets_a_suggested_type(
        self,
        intake_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
        description: str,
        suggested: str,
    ) -> None:
        # What most Open311 apps send: service_code, a position and a description.
        key = await make_key(intake_sessionmaker, ApiKey, "open311")
        response = await intake_client.post(
            f"{V2}/requests.json",
            data={"api_key": key, "service_code": "environment", "lat": "36.58",
                  "long": "114.51", "description": description},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        tracking_no = response.json()[0]["service_request_id"]
        issue = await issue_row(intake_sessionmaker, tracking_no)
        assert (issue.type, issue.type_suggested) == (suggested, True)
        assert issue.anonymous is True
        (event,) = (e["data"] for e in await routing_events(redis_client))
        assert (event["type"], event["type_suggested"]) == (suggested, True)
        # A report is confidential whether the submitter said so or the text did.
        assert event["confidential"] is (suggested == "report")

    async def test_a_given_type_is_not_marked_suggested(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        key = await make_key(intake_sessionmaker, ApiKey, "open311")
        tracking_no = await create(intake_client, key, **{"attribute[request_type]": "建议"})
        issue = await issue_row(intake_sessionmaker, tracking_no)
        assert (issue.type, issue.type_suggested) == ("suggestion", False)

    async def test_fields_may_come_in_the_query_string(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        response = await intake_client.post(
            f"{V2}/requests.json",
            params={
                "api_key": channel_key,
                "service_code": "water",
                "address_string": "光明大街 12 号",
            },
            data={
                "attribute[request_type]": "complaint",
                "description": "小区停水三天无人处理,请尽快恢复供水。",
            },
        )
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("fmt", ["json", "xml"])
    async def test_api_key_missing_or_invalid_is_403(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker, fmt: str
    ) -> None:
        (error,) = assert_errors(await post_request(intake_client, None, fmt), 403, fmt)
        assert "api_key" in error["description"]
        assert_errors(await post_request(intake_client, "ys_deadbeef_nope", fmt), 403, fmt)
        assert_errors(await post_request(intake_client, "", fmt), 403, fmt)
        hotline_key = await make_key(intake_sessionmaker, ApiKey, "hotline")
        assert_errors(await post_request(intake_client, hotline_key, fmt), 403, fmt)

    async def test_missing_service_code_is_400_unknown_is_404(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        (error,) = assert_errors(
            await post_request(intake_client, channel_key, service_code=None), 400
        )
        assert "service_code" in error["description"]
        assert_errors(await post_request(intake_client, channel_key, service_code=""), 400)
        assert_errors(
            await post_request(intake_client, channel_key, "xml", service_code="potholes"),
            404,
            "xml",
        )

    @pytest.mark.parametrize(
        ("overrides", "mentions"),
        [
            ({"lat": None, "long": None, "address_string": None}, "location"),
            ({"long": None, "address_string": None}, "lat"),
            ({"lat": "north"}, "lat"),
            ({"long": "NaN"}, "long"),
            ({"lat": "91"}, "lat"),
            ({"phone": "12345"}, "phone"),
            ({"email": "not-an-email"}, "email"),
            ({"attribute[request_type]": "gossip"}, "attribute[request_type]"),
            ({"attribute[request_type]": ["complaint", "help"]}, "attribute[request_type]"),
            ({"attribute[urgency]": "whenever"}, "attribute[urgency]"),
            ({"attribute[uscc]": "91130404MA0CTE1N10"}, "attribute[uscc]"),
            ({"description": "很长" * 2001}, "description"),
            ({"description": "控制字符\x00不行,请处理"}, "description"),
            ({"media_url": "javascript:alert(1)"}, "media_url"),
            ({"address_id": "not an id!"}, "address_id"),
            ({"first_name": "名" * 60}, "first_name"),
        ],
    )
    async def test_bad_fields_are_400_naming_the_field(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        overrides: dict[str, Any],
        mentions: str,
    ) -> None:
        errors = assert_errors(await post_request(intake_client, channel_key, **overrides), 400)
        assert any(mentions in error["description"] for error in errors), errors

    async def test_several_problems_are_reported_together(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        response = await post_request(
            intake_client, channel_key, "xml", phone="1", **{"attribute[request_type]": "gossip"}
        )
        errors = assert_errors(response, 400, "xml")
        assert len(errors) == 2

    async def test_malformed_bodies_are_400(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        files = {"media": ("x.png", b"\x89PNG", "image/png")}
        response = await intake_client.post(
            f"{V2}/requests.json", data={"api_key": channel_key}, files=files
        )
        assert_errors(response, 400)
        response = await intake_client.post(
            f"{V2}/requests.json",
            content=b"--broken\r\nno headers",
            headers={"content-type": "multipart/form-data; boundary=broken"},
        )
        assert response.status_code in (400, 403)
        assert_errors(response, response.status_code)
        response = await intake_client.post(
            f"{V2}/requests.json",
            content=b"api_key=%ff%fe&service_code=\xff",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert_errors(response, 403)


class TestGet:
    async def test_unknown_or_other_channel_is_404(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        assert_errors(await intake_client.get(f"{V2}/requests/YS000000NOTHERE.json"), 404)
        native = await intake_client.post(
            "/v1/requests",
            json={
                "channel": "app",
                "type": "complaint",
                "title": "园区公交班次太少",
                "description": "新兴国际商贸物流中心一带公交班次少,希望增加公交班次。",
                "submitter": {"kind": "person", "phone": "13812345678"},
            },
            headers={"X-API-Key": channel_key},
        )
        tracking_no = native.json()["tracking_no"]
        # Submitted through the app: its text is not published through Open311.
        assert_errors(await intake_client.get(f"{V2}/requests/{tracking_no}.xml"), 404, "xml")
        listed = (await intake_client.get(f"{V2}/requests.json")).json()
        assert listed == []

    async def test_lookup_is_case_insensitive(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        service_request_id = await create(intake_client, channel_key)
        assert (await get_one(intake_client, service_request_id.lower()))[
            "service_request_id"
        ] == service_request_id

    async def test_filters(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        intake_sessionmaker: AsyncSessionMaker,
    ) -> None:
        transport = await create(intake_client, channel_key)
        power = await create(
            intake_client,
            channel_key,
            service_code="electricity",
            phone="13900000000",
            description="厂区本月停电三次,影响生产。",
        )
        old = await create(
            intake_client,
            channel_key,
            service_code="water",
            phone="13700000000",
            description="小区停水三天无人处理。",
        )
        await set_row(intake_sessionmaker, old, received_at=datetime.now(UTC) - timedelta(days=120))
        await change_status(intake_sessionmaker, power, RequestStatus.completed, note="已恢复供电")

        async def ids(**params: str) -> list[str]:
            response = await intake_client.get(f"{V2}/requests.json", params=params)
            assert response.status_code == 200, response.text
            return [r["service_request_id"] for r in response.json()]

        assert await ids() == [power, transport]  # newest first, last 90 days by default
        assert await ids(status="open") == [transport]
        assert await ids(status="closed") == [power]
        assert await ids(status="open,closed") == [power, transport]
        assert await ids(service_code="electricity") == [power]
        assert await ids(service_code="electricity,transport", status="open") == [transport]
        assert await ids(service_code="potholes") == []
        assert await ids(page_size="1") == [power]
        assert await ids(page_size="1", page="2") == [transport]
        # Empty optional parameters mean "not given".
        assert await ids(status="", service_code="", start_date="", service_request_id="") == [
            power,
            transport,
        ]

        start = (datetime.now(UTC) - timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = (datetime.now(UTC) - timedelta(days=100)).isoformat()
        assert await ids(start_date=start, end_date=end) == [old]
        assert await ids(start_date=start) == [old]
        assert await ids(end_date=end) == [old]
        assert await ids(
            service_request_id=f"{old},{transport.lower()},YSNOPE", status="closed"
        ) == [old, transport]

        xml = parse_xml(await intake_client.get(f"{V2}/requests.xml", params={"status": "closed"}))
        assert [r["service_request_id"] for r in xml["service_requests"]["request"]] == [power]
        empty = await intake_client.get(f"{V2}/requests.xml", params={"service_code": "potholes"})
        assert parse_xml(empty) == {"service_requests": None}

    @pytest.mark.parametrize(
        "params",
        [
            {"status": "fixed"},
            {"start_date": "yesterday"},
            {"end_date": "2026-13-01T00:00:00Z"},
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
            {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
            {"page": "0"},
            {"page_size": "1001"},
            {"page_size": "x"},
        ],
    )
    async def test_bad_filters_are_400(
        self, intake_client: httpx.AsyncClient, params: dict[str, str]
    ) -> None:
        assert_errors(await intake_client.get(f"{V2}/requests.json", params=params), 400)

    async def test_offset_sent_unencoded_still_parses(
        self, intake_client: httpx.AsyncClient
    ) -> None:
        response = await intake_client.get(
            f"{V2}/requests.json?start_date=2026-01-01T00:00:00+08:00&end_date=2026-02-01T00:00:00+08:00"
        )
        assert response.status_code == 200, response.text

    async def test_confidential_reports_are_not_listed_and_shown_without_text(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        report = await create(
            intake_client,
            channel_key,
            service_code="market_order",
            description="某部门工作人员办理备案时暗示要好处费。",
            **{"attribute[request_type]": "举报"},
        )
        assert (await intake_client.get(f"{V2}/requests.json")).json() == []
        view = await get_one(intake_client, report)
        assert view["status"] == "open"
        for hidden in ("description", "address", "lat", "long", "media_url"):
            assert hidden not in view

    async def test_tokens(self, intake_client: httpx.AsyncClient, channel_key: str) -> None:
        service_request_id = await create(intake_client, channel_key)
        response = await intake_client.get(f"{V2}/tokens/{service_request_id}.json")
        assert response.json() == [
            {"service_request_id": service_request_id, "token": service_request_id}
        ]
        xml = parse_xml(await intake_client.get(f"{V2}/tokens/{service_request_id}.xml"))
        assert xml["service_requests"]["request"][0]["token"] == service_request_id
        assert_errors(await intake_client.get(f"{V2}/tokens/12345.json"), 404)


class TestStatus:
    def test_every_status_maps_to_open_or_closed(self) -> None:
        for status in RequestStatus:
            assert open311_status(status.value) == (
                "closed" if status in CLOSED_STATUSES else "open"
            )
        for value in (
            "received",
            "verifying",
            "dispatched",
            "in_progress",
            "extended",
            "suspended",
        ):
            assert open311_status(value) == "open"
        for value in (
            "completed",
            "closed",
            "answered",
            "rejected",
            "merged",
            "duplicate",
            "withdrawn",
        ):
            assert open311_status(value) == "closed"

    async def test_routing_updates_show_in_open311(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        intake_sessionmaker: AsyncSessionMaker,
    ) -> None:
        service_request_id = await create(intake_client, channel_key)
        due = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
        await change_status(
            intake_sessionmaker,
            service_request_id,
            RequestStatus.dispatched,
            note="已派至区交通运输局办理",
            agency_responsible="区交通运输局",
            expected_at=due,
            expected_provisional=True,
        )
        view = await get_one(intake_client, service_request_id)
        assert view["status"] == "open"
        assert view["status_notes"] == "已派至区交通运输局办理"
        assert view["agency_responsible"] == "区交通运输局"
        assert view["expected_datetime"] == "2026-12-04T09:30:00Z"
        assert (
            view["service_notice"] == "预计 2026-12-04 17:30 前办结(暂定:节假日安排公布后重新计算)"
        )

        closed_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        await change_status(
            intake_sessionmaker,
            service_request_id,
            RequestStatus.completed,
            note="已增开两班公交",
            changed_at=closed_at,
        )
        view = await get_one(intake_client, service_request_id)
        assert view["status"] == "closed"
        assert view["status_notes"] == "已增开两班公交"
        assert view["agency_responsible"] == "区交通运输局"
        assert datetime.fromisoformat(view["updated_datetime"]) == closed_at
        assert "service_notice" not in view

    async def test_status_written_on_the_row(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        intake_sessionmaker: AsyncSessionMaker,
    ) -> None:
        service_request_id = await create(intake_client, channel_key)
        await set_row(
            intake_sessionmaker,
            service_request_id,
            status=RequestStatus.rejected.value,
            status_note=None,
        )
        view = await get_one(intake_client, service_request_id)
        assert view["status"] == "closed"
        assert view["status_notes"] == RequestStatus.rejected.label_zh
        xml = parse_xml(await intake_client.get(f"{V2}/requests/{service_request_id}.xml"))
        assert xml["service_requests"]["request"][0]["status"] == "closed"

    async def test_duplicate_submission_is_closed_and_says_so(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        first = await create(intake_client, channel_key)
        response = await post_request(
            intake_client,
            channel_key,
            description="新兴国际商贸物流中心一带公交班次太少,希望增加公交班次,提高园区交通承载力。",
        )
        (receipt,) = response.json()
        assert first in receipt["service_notice"]
        assert (await get_one(intake_client, receipt["service_request_id"]))["status"] == "closed"
