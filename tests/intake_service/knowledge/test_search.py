"""The published knowledge base in intake: kept from routing's events through the worker's real
handlers, searched in public by tier and validity, rate limited per IP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from intake_service.config import settings
from services.db import AsyncSessionMaker
from shared.enums import Topic
from tests.intake_service.knowledge.helpers import ago, feed, published, today, withdrawn


async def _search(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/knowledge/search", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _questions(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [item["question"] for item in await _search(client, **params)]


class TestHandlers:
    async def test_a_newer_version_replaces_an_older_one_and_a_late_older_one_is_ignored(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        article = uuid.uuid4()
        v1 = published(article_id=article, question="公交班次怎么查询?", at=ago(3))
        v2 = published(article_id=article, version=2, question="园区公交班次怎么查询?", at=ago(1))
        await feed(intake_sessionmaker, v2, v1)
        found = await intake_client.get(f"/v1/knowledge/articles/{article}")
        assert found.status_code == 200, found.text
        assert (found.json()["version"], found.json()["question"]) == (2, "园区公交班次怎么查询?")
        assert await _questions(intake_client, q="公交班次") == ["园区公交班次怎么查询?"]

    async def test_withdrawn_leaves_search_and_the_article_is_404(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        article = published(at=ago(2))
        await feed(intake_sessionmaker, article)
        assert await _questions(intake_client, q="公交") == [article.question]
        await feed(intake_sessionmaker, withdrawn(article.article_id, ago(1)))
        assert await _questions(intake_client, q="公交") == []
        assert await _questions(intake_client) == []
        gone = await intake_client.get(f"/v1/knowledge/articles/{article.article_id}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "article_not_found"

    async def test_a_withdrawal_before_its_publication_keeps_the_late_publication_out(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        article = published(at=ago(2))
        await feed(intake_sessionmaker, withdrawn(article.article_id, ago(1)), article)
        assert await _questions(intake_client, q="公交") == []
        # A version published after the withdrawal is back in search.
        again = published(
            article_id=article.article_id, version=2, question="公交班次查询", at=ago(0)
        )
        await feed(intake_sessionmaker, again)
        assert await _questions(intake_client, q="公交") == ["公交班次查询"]

    async def test_a_withdrawal_older_than_the_version_held_changes_nothing(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        article = published(version=3, at=ago(1))
        await feed(intake_sessionmaker, article, withdrawn(article.article_id, ago(2)))
        assert await _questions(intake_client, q="公交") == [article.question]


class TestSearch:
    async def test_ranked_question_then_keywords_then_answer_newest_first_within_a_tier(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        await feed(
            intake_sessionmaker,
            published(question="营业执照办理需要哪些材料?", keywords=["办照"],
                      answer="携带身份证到政务服务中心窗口办理营业执照。", at=ago(1),
                      topic=Topic.permit),
            published(question="企业开办流程", keywords=["营业执照", "开办"],
                      answer="通过一网通办平台申请。", at=ago(0.5), topic=Topic.permit),
            published(question="个体户注销怎么办?", keywords=["注销"],
                      answer="先清税,再注销营业执照。", at=ago(0.1), topic=Topic.permit),
            published(question="营业执照遗失补办", keywords=["补办"],
                      answer="登报声明后到窗口补领。", at=ago(3), topic=Topic.permit),
            published(question="停水怎么报修?", keywords=["停水"], answer="联系供水公司。"),
        )  # fmt: skip
        hits = await _search(intake_client, q="营业执照")
        assert [(h["question"], h["matched_in"]) for h in hits] == [
            ("营业执照办理需要哪些材料?", "question"),
            ("营业执照遗失补办", "question"),
            ("企业开办流程", "keywords"),
            ("个体户注销怎么办?", "answer"),
        ]
        assert await _questions(intake_client, q="营业执照", limit=2) == [
            "营业执照办理需要哪些材料?",
            "营业执照遗失补办",
        ]
        assert await _questions(intake_client, q="营业执照", topic="transport") == []
        assert len(await _questions(intake_client, topic="permit")) == 4

    async def test_only_articles_valid_today_asia_shanghai(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        day = today()
        await feed(
            intake_sessionmaker,
            published(question="公交一 有效期至今天", valid_until=day),
            published(question="公交二 今天起有效", valid_from=day),
            published(question="公交三 已过期", valid_until=day - timedelta(days=1)),
            published(question="公交四 明天起有效", valid_from=day + timedelta(days=1)),
            published(question="公交五 一直有效"),
        )
        found = set(await _questions(intake_client, q="公交"))
        assert found == {"公交一 有效期至今天", "公交二 今天起有效", "公交五 一直有效"}

    async def test_answers_are_plain_text_and_script_stays_text(
        self, intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
    ) -> None:
        answer = '请到窗口办理<script>alert("x")</script>'
        article = published(question="窗口办理时间", answer=answer)
        await feed(intake_sessionmaker, article)
        response = await intake_client.get(f"/v1/knowledge/articles/{article.article_id}")
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["answer"] == answer
        assert response.json()["unit_name"] == "区交通运输局"
        assert response.json()["topic_label"] == "交通"

    @pytest.mark.parametrize(
        "params",
        [{"q": "公"}, {"q": "x" * 51}, {"q": "公交\n班次"}, {"limit": 0}, {"limit": 51},
         {"topic": "gossip"}, {"page": 2}],
    )  # fmt: skip
    async def test_bad_queries_are_422(
        self, intake_client: httpx.AsyncClient, params: dict[str, Any]
    ) -> None:
        response = await intake_client.get("/v1/knowledge/search", params=params)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] in {"invalid_search_query", "validation_error"}

    async def test_unknown_or_malformed_article_ids(self, intake_client: httpx.AsyncClient) -> None:
        assert (
            await intake_client.get(f"/v1/knowledge/articles/{uuid.uuid4()}")
        ).status_code == 404
        assert (await intake_client.get("/v1/knowledge/articles/nope")).status_code == 422

    async def test_rate_limited_per_ip(
        self, intake_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "rate_knowledge_per_ip", 2)
        first = await intake_client.get("/v1/knowledge/search", params={"q": "公交"})
        second = await intake_client.get(f"/v1/knowledge/articles/{uuid.uuid4()}")
        third = await intake_client.get("/v1/knowledge/search", params={"q": "公交"})
        assert [first.status_code, second.status_code, third.status_code] == [200, 404, 429]
        assert third.json()["error"]["code"] == "rate_limited"
        assert int(third.headers["Retry-After"]) >= 1
        assert '"knowledge";q=2;w=60' in third.headers["RateLimit-Policy"]
