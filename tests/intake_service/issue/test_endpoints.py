from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from shared.identifiers import uscc_check_char

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def valid_uscc(prefix: str = "91130404MA0CTE1N1") -> str:
    return prefix + uscc_check_char(prefix)


def submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "app",
        "type": "complaint",
        "title": "园区公交班次太少",
        "description": "新兴国际商贸物流中心一带公交班次少,希望增加公交班次、提高园区交通承载力。",
        "submitter": {"kind": "person", "name": "张三", "phone": "13812345678"},
        "location": {"address": "邯山区新兴国际商贸物流中心", "lat": 36.58, "lon": 114.51},
    }
    body.update(overrides)
    return body


async def submit(
    client: httpx.AsyncClient, key: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return await client.post(
        "/v1/requests", json=body or submission(), headers={"X-API-Key": key, **headers}
    )


class TestSubmit:
    async def test_returns_tracking_number_and_suggests_topic(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        response = await submit(intake_client, channel_key)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["tracking_no"].startswith("YS")
        assert len(body["tracking_no"]) == 16
        assert body["status"] == "received"
        assert body["topic"] == "transport"
        assert body["topic_suggested"] is True
        assert body["tracking_secret"]

    async def test_emits_request_submitted_to_routing_and_scoring(
        self, intake_client: httpx.AsyncClient, channel_key: str, redis_client: Redis
    ) -> None:
        response = await submit(intake_client, channel_key)
        request_id = response.json()["id"]
        for queue in ("routing", "scoring"):
            job_ids = [j.decode() for j in await redis_client.zrange(queue, 0, -1)]
            assert job_ids == [f"evt:{_event_id_for(job_ids)}:{queue}"]
            raw = await redis_client.get(f"arq:job:{job_ids[0]}")
            job = orjson.loads(raw)
            envelope = job["a"][0]
            assert job["f"] == f"{queue}.handle_event"
            assert envelope["type"] == "request.submitted"
            assert envelope["source"] == "intake"
            assert envelope["data"]["request_id"] == request_id
            assert envelope["data"]["submitter"]["phone"] == "13812345678"

    async def test_enterprise_with_valid_credit_code(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        body = submission(
            submitter={
                "kind": "enterprise",
                "name": "张骞",
                "phone": "0310-1234567",
                "uscc": valid_uscc(),
                "enterprise_name": "邯郸制药",
            }
        )
        response = await submit(intake_client, channel_key, body)
        assert response.status_code == 201, response.text

    async def test_full_width_phone_digits_are_normalized(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        body = submission(submitter={"kind": "person", "phone": "１３８ １２３４ ５６７８"})
        response = await submit(intake_client, channel_key, body)
        assert response.status_code == 201, response.text
        track = await intake_client.get(
            f"/v1/requests/{response.json()['tracking_no']}",
            headers={"X-Submitter-Phone": "13812345678"},
        )
        assert track.status_code == 200

    @pytest.mark.parametrize(
        ("override", "code"),
        [
            (
                {
                    "submitter": {
                        "kind": "enterprise",
                        "phone": "13812345678",
                        "uscc": "91130404MA0CTE1N10",
                    }
                },
                "invalid_uscc",
            ),
            ({"submitter": {"kind": "enterprise", "phone": "13812345678"}}, "uscc_required"),
            ({"submitter": {"kind": "person", "phone": "12345"}}, "invalid_phone"),
            ({"submitter": None}, "contact_required"),
            ({"location": {"lat": 91, "lon": 114}}, "less_than_equal"),
            ({"location": {"lat": 36.5}}, "location_incomplete"),
            ({"type": "gossip"}, "enum"),
            ({"title": "x"}, "string_too_short"),
            ({"description": "过长" * 3000}, "string_too_long"),
            ({"title": "标题\x00注入"}, "control_characters"),
            ({"unknown": 1}, "extra_forbidden"),
        ],
    )
    async def test_bad_input_gets_a_stable_code(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        override: dict[str, Any],
        code: str,
    ) -> None:
        response = await submit(intake_client, channel_key, submission(**override))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["message"]
        assert error["message_en"]
        assert code in {detail["type"] for detail in error["details"]}

    async def test_malformed_json_is_422_not_500(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        response = await intake_client.post(
            "/v1/requests",
            content=b"{not json",
            headers={"X-API-Key": channel_key, "content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"

    async def test_missing_or_revoked_key(self, intake_client: httpx.AsyncClient) -> None:
        response = await intake_client.post("/v1/requests", json=submission())
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        response = await submit(intake_client, "ys_deadbeef_nope")
        assert response.status_code == 401

    async def test_key_bound_to_another_channel(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: Any
    ) -> None:
        from intake_service.models import ApiKey
        from tests.fixtures.clients import make_key

        hotline_key = await make_key(intake_sessionmaker, ApiKey, "hotline")
        response = await submit(intake_client, hotline_key, submission(channel="app"))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "channel_not_allowed"
        response = await submit(
            intake_client, hotline_key, submission(channel="hotline", recorded_by="话务员李四")
        )
        assert response.status_code == 201

    async def test_anonymous_report_is_confidential_and_masked_in_events(
        self, intake_client: httpx.AsyncClient, channel_key: str, redis_client: Redis
    ) -> None:
        body = submission(
            channel="report_platform",
            type="report",
            title="某部门工作人员吃拿卡要",
            description="办理备案时工作人员暗示要好处费,故意刁难拖延。",
            anonymous=True,
            submitter={"kind": "person", "name": "王小明", "phone": "13912345678"},
        )
        response = await submit(intake_client, channel_key, body)
        assert response.status_code == 201, response.text
        raw = await redis_client.get(
            f"arq:job:{(await redis_client.zrange('routing', 0, -1))[0].decode()}"
        )
        data = orjson.loads(raw)["a"][0]["data"]
        assert data["confidential"] is True
        assert data["submitter"]["masked"] is True
        assert data["submitter"]["phone"] == "139****5678"
        assert "王小明" not in orjson.dumps(data).decode()


class TestIdempotency:
    async def test_retry_returns_first_answer_and_creates_nothing(
        self, intake_client: httpx.AsyncClient, channel_key: str, redis_client: Redis
    ) -> None:
        first = await submit(intake_client, channel_key, **{"Idempotency-Key": "abc-1"})
        second = await submit(intake_client, channel_key, **{"Idempotency-Key": "abc-1"})
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert await redis_client.zcard("routing") == 1

    async def test_same_key_different_body_is_422(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        await submit(intake_client, channel_key, **{"Idempotency-Key": "abc-2"})
        response = await submit(
            intake_client,
            channel_key,
            submission(title="另一件事情的标题"),
            **{"Idempotency-Key": "abc-2"},
        )
        assert response.status_code == 422  # draft-ietf-httpapi-idempotency-key-header
        assert response.json()["error"]["code"] == "idempotency_key_reused"


class TestTrack:
    async def test_with_secret_or_phone_and_nothing_else(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        receipt = (await submit(intake_client, channel_key)).json()
        url = f"/v1/requests/{receipt['tracking_no']}"
        by_secret = await intake_client.get(
            url, headers={"X-Tracking-Secret": receipt["tracking_secret"]}
        )
        assert by_secret.status_code == 200
        view = by_secret.json()
        assert view["status"] == "received"
        assert view["status_label"] == "已受理"
        assert view["history"][0]["note"].startswith("已受理")
        assert (
            await intake_client.get(url, headers={"X-Submitter-Phone": "+86 138-1234-5678"})
        ).status_code == 200
        wrong = await intake_client.get(url, headers={"X-Tracking-Secret": "guess"})
        missing = await intake_client.get(
            "/v1/requests/YS2611280000000", headers={"X-Tracking-Secret": "guess"}
        )
        assert wrong.status_code == missing.status_code == 404
        assert (
            wrong.json()["error"]["code"] == missing.json()["error"]["code"] == "request_not_found"
        )

    async def test_withdraw_then_supplement_is_refused(
        self, intake_client: httpx.AsyncClient, channel_key: str, redis_client: Redis
    ) -> None:
        receipt = (await submit(intake_client, channel_key)).json()
        headers = {"X-Tracking-Secret": receipt["tracking_secret"]}
        base = f"/v1/requests/{receipt['tracking_no']}"
        supplement = await intake_client.post(
            f"{base}/supplements", json={"text": "补充:高峰期等车超过四十分钟。"}, headers=headers
        )
        assert supplement.status_code == 201, supplement.text
        withdrawn = await intake_client.post(
            f"{base}/withdraw", json={"reason": "问题已自行解决"}, headers=headers
        )
        assert withdrawn.status_code == 200
        assert withdrawn.json()["status"] == "withdrawn"
        again = await intake_client.post(
            f"{base}/supplements", json={"text": "再补充一些材料内容"}, headers=headers
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "request_closed"
        types = []
        for job_id in await redis_client.zrange("routing", 0, -1):
            types.append(
                orjson.loads(await redis_client.get(f"arq:job:{job_id.decode()}"))["a"][0]["type"]
            )
        assert sorted(types) == ["request.submitted", "request.supplemented", "request.withdrawn"]


class TestDuplicates:
    async def test_same_submitter_same_facts_is_a_duplicate(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        first = (await submit(intake_client, channel_key)).json()
        body = submission(
            description="新兴国际商贸物流中心一带公交班次太少,希望增加公交班次,提高园区交通承载力。"
        )
        second = (await submit(intake_client, channel_key, body)).json()
        assert second["status"] == "duplicate"
        assert second["duplicate_of"] == first["tracking_no"]

    async def test_different_facts_are_not_duplicates(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        await submit(intake_client, channel_key)
        body = submission(
            title="厂区停电频繁", description="我司厂区本月停电三次,影响生产,请供电公司排查线路。"
        )
        assert (await submit(intake_client, channel_key, body)).json()["status"] == "received"

    async def test_similar_request_from_someone_else_is_related(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        first = (await submit(intake_client, channel_key)).json()
        body = submission(submitter={"kind": "person", "phone": "13700000000"})
        second = (await submit(intake_client, channel_key, body)).json()
        assert second["status"] == "received"
        assert second["related"] == [first["tracking_no"]]


class TestAttachments:
    async def test_upload_then_attach(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        upload = await intake_client.post(
            "/v1/attachments",
            files={"file": ("现场.png", PNG, "image/png")},
            headers={"X-API-Key": channel_key},
        )
        assert upload.status_code == 201, upload.text
        upload_id = upload.json()["upload_id"]
        body = submission(
            attachments=[{"upload_id": upload_id}, {"url": "https://example.org/a.jpg"}]
        )
        response = await submit(intake_client, channel_key, body)
        assert response.status_code == 201, response.text
        again = await submit(
            intake_client,
            channel_key,
            submission(title="再次使用同一附件", attachments=[{"upload_id": upload_id}]),
        )
        assert again.status_code == 422
        assert again.json()["error"]["code"] == "attachment_not_found"

    async def test_rejects_unknown_types(
        self, intake_client: httpx.AsyncClient, channel_key: str
    ) -> None:
        response = await intake_client.post(
            "/v1/attachments",
            files={"file": ("x.png", b"MZ\x90\x00 not an image", "image/png")},
            headers={"X-API-Key": channel_key},
        )
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_upload_type"


def _event_id_for(job_ids: list[str]) -> str:
    return job_ids[0].split(":")[1]
