"""Consultations and the knowledge base: the receipt offers the best-matching published
answers, and the submitter can close the request with one ("this solved it")."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from intake_service.models import InboxEvent
from intake_service.worker import HANDLERS
from services.db import AsyncSessionMaker
from services.inbox import EventConsumer
from services.models import utcnow
from shared.enums import RequestStatus, Topic
from shared.events import CaseStatusChanged, EventEnvelope, KnowledgeArticlePublished
from tests.fixtures.org import Org
from tests.intake_service.issue.test_endpoints import submission
from tests.intake_service.knowledge.helpers import ago, feed, published, today, withdrawn

BUSES = "园区公交线路和班次在哪里查询?"
CONSULT = {
    "type": "consult",
    "topic": "transport",
    "title": "园区公交班次查询",
    "description": "想问一下去新兴国际商贸物流园区的公交线路和班次在哪里查询?",
}


@pytest.fixture
async def articles(intake_sessionmaker: AsyncSessionMaker) -> dict[str, KnowledgeArticlePublished]:
    made = {
        "buses": published(question=BUSES, keywords=["公交", "班次", "园区"], at=ago(2)),
        # The same words under another topic: offered after the same-topic one.
        "parking": published(question="园区公交站附近能否停车?", keywords=["停车", "公交"],
                             topic=Topic.market_order, at=ago(1)),
        "water": published(question="停水怎么报修?", keywords=["停水", "报修"],
                           topic=Topic.water, answer="拨打供水公司热线报修。"),
        "expired": published(question="园区公交班次临时调整", keywords=["公交", "班次"],
                             valid_until=today() - timedelta(days=1)),
    }  # fmt: skip
    await feed(intake_sessionmaker, *made.values())
    return made


async def _submit(client: httpx.AsyncClient, key: str, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/requests", json=submission(**overrides), headers={"X-API-Key": key}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _answer(
    client: httpx.AsyncClient, receipt: dict[str, Any], article_id: uuid.UUID | str
) -> httpx.Response:
    return await client.post(
        f"/v1/requests/{receipt['tracking_no']}/knowledge-answer",
        json={"article_id": str(article_id)},
        headers={"X-Tracking-Secret": receipt["tracking_secret"]},
    )


async def _events(redis: Redis, queue: str, event_type: str) -> list[dict[str, Any]]:
    found = []
    for job_id in await redis.zrange(queue, 0, -1):
        job = orjson.loads(await redis.get(f"arq:job:{job_id.decode()}"))
        if job["a"][0]["type"] == event_type:
            found.append(job["a"][0]["data"])
    return found


class TestReceipt:
    async def test_a_consultation_gets_the_matching_articles_same_topic_first(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        offered = receipt["articles"]
        assert [a["id"] for a in offered] == [
            str(articles["buses"].article_id),
            str(articles["parking"].article_id),
        ]
        first = offered[0]
        assert first["question"] == BUSES
        assert first["version"] == 1
        assert first["unit_name"] == "区交通运输局"
        assert first["excerpt"] == articles["buses"].answer

    async def test_a_complaint_with_the_same_words_gets_none(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **{**CONSULT, "type": "complaint"})
        assert receipt["articles"] == []

    async def test_an_unrelated_consultation_gets_none(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, type="consult", topic="funds",
                                title="贷款贴息政策", description="小微企业贷款贴息怎么申请?")  # fmt: skip
        assert receipt["articles"] == []

    async def test_withdrawn_articles_are_not_offered(
        self,
        intake_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        await feed(intake_sessionmaker, withdrawn(articles["buses"].article_id))
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        assert [a["id"] for a in receipt["articles"]] == [str(articles["parking"].article_id)]

    async def test_the_one_transaction_path_offers_them_too(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        # A request with attachments is written in its own transaction (not a group).
        body = {**CONSULT, "attachments": [{"url": "https://example.org/photo.jpg"}]}
        receipt = await _submit(intake_client, channel_key, **body)
        assert [a["id"] for a in receipt["articles"]][:1] == [str(articles["buses"].article_id)]

    async def test_the_tracking_view_shows_them_while_the_submitter_may_answer(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        track = await intake_client.get(
            f"/v1/requests/{receipt['tracking_no']}",
            headers={"X-Tracking-Secret": receipt["tracking_secret"]},
        )
        assert track.status_code == 200, track.text
        assert [a["id"] for a in track.json()["articles"]] == [a["id"] for a in receipt["articles"]]


class TestKnowledgeAnswer:
    async def test_the_submitter_closes_the_consultation_and_routing_and_scoring_are_told(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        redis_client: Redis,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        article = articles["buses"]
        response = await _answer(intake_client, receipt, article.article_id)
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["status"] == "answered"
        assert BUSES in view["status_note"]
        assert view["history"][-1]["status"] == "answered"
        assert BUSES in view["history"][-1]["note"]
        assert view["articles"] == []  # nothing more to offer once answered
        for queue in ("routing", "scoring"):
            (event,) = await _events(redis_client, queue, "request.answered_by_knowledge")
            assert event["request_id"] == receipt["id"]
            assert event["tracking_no"] == receipt["tracking_no"]
            assert event["article_id"] == str(article.article_id)
            assert event["version"] == 1

        again = await _answer(intake_client, receipt, article.article_id)
        assert again.status_code == 200, again.text
        assert again.json()["history"] == view["history"]
        assert len(await _events(redis_client, "scoring", "request.answered_by_knowledge")) == 1

        other = await _answer(intake_client, receipt, articles["parking"].article_id)
        assert other.status_code == 409
        assert other.json()["error"]["code"] == "already_answered_by_knowledge"

    @pytest.mark.parametrize("which", ["expired", "withdrawn", "unknown"])
    async def test_an_article_not_published_and_valid_is_not_citable(
        self,
        intake_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        channel_key: str,
        redis_client: Redis,
        articles: dict[str, KnowledgeArticlePublished],
        which: str,
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        target = uuid.uuid4() if which == "unknown" else articles["expired"].article_id
        if which == "withdrawn":
            target = articles["buses"].article_id
            await feed(intake_sessionmaker, withdrawn(target))
        response = await _answer(intake_client, receipt, target)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "article_not_citable"
        assert response.json()["error"]["message"]
        assert response.json()["error"]["message_en"]
        track = await intake_client.get(
            f"/v1/requests/{receipt['tracking_no']}",
            headers={"X-Tracking-Secret": receipt["tracking_secret"]},
        )
        assert track.json()["status"] == "received"  # nothing half-written
        assert await _events(redis_client, "scoring", "request.answered_by_knowledge") == []

    async def test_a_complaint_cannot_be_answered_from_the_knowledge_base(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **{**CONSULT, "type": "complaint"})
        response = await _answer(intake_client, receipt, articles["buses"].article_id)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "not_a_consultation"

    async def test_a_request_past_verification_is_409(
        self,
        intake_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        change = CaseStatusChanged(
            request_id=uuid.UUID(receipt["id"]), tracking_no=receipt["tracking_no"],
            status=RequestStatus.dispatched, note="已派单", changed_at=utcnow(),
        )  # fmt: skip
        consumer = EventConsumer(InboxEvent, HANDLERS, name="intakeknowledge")
        event = EventEnvelope(
            type=change.TYPE, source="routing", data=change.model_dump(mode="json")
        )
        ctx = {"sessionmaker": intake_sessionmaker, "job_try": 1}
        assert await consumer(ctx, event.model_dump(mode="json")) == "handled"
        response = await _answer(intake_client, receipt, articles["buses"].article_id)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "request_not_answerable"

    async def test_verifying_is_still_answerable(
        self,
        intake_client: httpx.AsyncClient,
        intake_sessionmaker: AsyncSessionMaker,
        channel_key: str,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        change = CaseStatusChanged(
            request_id=uuid.UUID(receipt["id"]), tracking_no=receipt["tracking_no"],
            status=RequestStatus.verifying, note="核实中", changed_at=utcnow(),
        )  # fmt: skip
        consumer = EventConsumer(InboxEvent, HANDLERS, name="intakeknowledge")
        event = EventEnvelope(
            type=change.TYPE, source="routing", data=change.model_dump(mode="json")
        )
        ctx = {"sessionmaker": intake_sessionmaker, "job_try": 1}
        assert await consumer(ctx, event.model_dump(mode="json")) == "handled"
        response = await _answer(intake_client, receipt, articles["buses"].article_id)
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        ("headers", "body", "status"),
        [
            ({"X-Tracking-Secret": "wrong"}, None, 404),
            ({}, None, 404),
            (None, {"article_id": "not-a-uuid"}, 422),
            (None, {}, 422),
            (None, {"article_id": str(uuid.uuid4()), "extra": 1}, 422),
        ],
    )
    async def test_bad_callers_and_bodies(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        headers: dict[str, str] | None,
        body: dict[str, Any] | None,
        status: int,
    ) -> None:
        receipt = await _submit(intake_client, channel_key, **CONSULT)
        response = await intake_client.post(
            f"/v1/requests/{receipt['tracking_no']}/knowledge-answer",
            json=body if body is not None else {"article_id": str(uuid.uuid4())},
            headers=headers if headers is not None else {"X-Tracking-Secret": receipt["tracking_secret"]},
        )  # fmt: skip
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"]


class TestStaffFigures:
    async def test_answers_by_article_for_center_staff_auditors_and_admins(
        self,
        intake_client: httpx.AsyncClient,
        channel_key: str,
        org: Org,
        articles: dict[str, KnowledgeArticlePublished],
    ) -> None:
        for n, article in enumerate(("buses", "buses", "parking")):
            # Different submitters: the same one asking again would be a duplicate.
            who = {"kind": "person", "name": "咨询人", "phone": f"1380000000{n}"}
            receipt = await _submit(intake_client, channel_key, **CONSULT, submitter=who)
            response = await _answer(intake_client, receipt, articles[article].article_id)
            assert response.status_code == 200, response.text
        who = {"kind": "person", "name": "咨询人", "phone": "13800000009"}
        await _submit(intake_client, channel_key, **CONSULT, submitter=who)  # never answered
        day = today().isoformat()
        params = {"start": day, "end": day}
        for role in ("hs_operator", "auditor", "admin"):
            response = await intake_client.get(
                "/v1/staff/knowledge/figures", params=params, headers=org.auth(role)
            )
            assert response.status_code == 200, response.text
            figures = response.json()
            assert (figures["answered"], figures["articles_used"]) == (3, 2)
            assert [(u["article_id"], u["answered"]) for u in figures["by_article"]] == [
                (str(articles["buses"].article_id), 2),
                (str(articles["parking"].article_id), 1),
            ]
            assert figures["by_article"][0]["question"] == BUSES
        yesterday = (today() - timedelta(days=1)).isoformat()
        earlier = await intake_client.get(
            "/v1/staff/knowledge/figures", params={"start": yesterday, "end": yesterday},
            headers=org.auth("admin"),
        )  # fmt: skip
        assert earlier.json()["answered"] == 0

    async def test_departments_are_403_and_strangers_401(
        self, intake_client: httpx.AsyncClient, org: Org
    ) -> None:
        params = {"start": today().isoformat(), "end": today().isoformat()}
        url = "/v1/staff/knowledge/figures"
        assert (
            await intake_client.get(url, params=params, headers=org.auth("jt_liaison"))
        ).status_code == 403
        assert (
            await intake_client.get(url, params=params, headers=org.auth("jw_officer"))
        ).status_code == 403
        assert (await intake_client.get(url, params=params)).status_code == 401

    @pytest.mark.parametrize(
        "params",
        [{"start": "2026-12-02", "end": "2026-12-01"}, {"start": "2020-01-01", "end": "2026-01-01"},
         {"start": "2026-13-01", "end": "2026-12-01"}, {"start": "2026-12-01"}],
    )  # fmt: skip
    async def test_bad_ranges_are_422(
        self, intake_client: httpx.AsyncClient, org: Org, params: dict[str, str]
    ) -> None:
        response = await intake_client.get(
            "/v1/staff/knowledge/figures", params=params, headers=org.auth("admin")
        )
        assert response.status_code == 422, response.text
