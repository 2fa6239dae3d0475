"""The knowledge base through the real APIs and workers (issue 19, "Done when"): a department's
answer, published after the center's review, reaches intake; a consultation's receipt offers
it; the submitter says it solved the question, and the case closes as answered by the knowledge
base, counted in scoring's statistics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.test_routing_loop import eventually
from tests.fixtures.org import Org
from tests.fixtures.processes import ServiceStack
from tests.routing_service.assignment.helpers import ok

pytestmark = pytest.mark.slow

ARTICLE = {
    "unit_code": "DEPT-JT", "topic": "transport",
    "question": "园区企业员工上下班没有公交线路怎么办?",
    "answer": "区交通运输局已开通园区通勤专线K12路,早晚高峰每15分钟一班,可在“邯郸公交”查询。",
    "keywords": ["公交", "园区", "通勤"], "legal_basis": "《邯郸市城市公共交通条例》",
}  # fmt: skip


async def test_a_consultation_answered_from_the_knowledge_base(
    full_stack: ServiceStack, org: Org, channel_key: str
) -> None:
    async with (
        httpx.AsyncClient(base_url=full_stack.url("routing"), timeout=15) as routing,
        httpx.AsyncClient(base_url=full_stack.url("intake"), timeout=15) as intake,
        httpx.AsyncClient(base_url=full_stack.url("scoring"), timeout=15) as scoring,
    ):
        drafted = await ok(await routing.post("/v1/knowledge/articles", headers=org.auth("jt_liaison"),
                                              json=ARTICLE), 201)  # fmt: skip
        article_id = drafted["id"]
        await ok(
            await routing.post(
                f"/v1/knowledge/articles/{article_id}/submit", headers=org.auth("jt_liaison")
            )
        )

        # Not public before the review.
        async def searchable() -> Any:
            found = await ok(await intake.get("/v1/knowledge/search", params={"q": "公交"}))
            return found

        assert (await searchable())["items"] == []
        await ok(await routing.post(f"/v1/knowledge/articles/{article_id}/review",
                                    headers=org.auth("hs_supervisor"), json={"approve": True}))  # fmt: skip

        async def published() -> Any:
            found = await searchable()
            return found if found["items"] else None

        found = await eventually(published, timeout=30)
        assert found["items"][0]["id"] == article_id

        body = {"channel": "app", "type": "consult", "topic": "transport",
                "title": "园区上下班有没有公交线路?", "description": "我在新兴国际园区上班,想问问有没有通勤公交线路。",
                "submitter": {"kind": "person", "name": "李女士", "phone": "13912340001"}}  # fmt: skip
        receipt = await ok(
            await intake.post("/v1/requests", json=body, headers={"X-API-Key": channel_key}), 201
        )
        assert [a["id"] for a in receipt["articles"]] == [article_id]
        owner = {"X-Tracking-Secret": receipt["tracking_secret"]}
        tracking_no = receipt["tracking_no"]

        async def case_exists() -> Any:
            found = await routing.get(
                f"/v1/cases/by-tracking/{tracking_no}", headers=org.auth("hs_operator")
            )
            return found.json() if found.status_code == 200 else None

        await eventually(case_exists, timeout=30)
        answered = await ok(await intake.post(f"/v1/requests/{tracking_no}/knowledge-answer", headers=owner,
                                              json={"article_id": article_id}))  # fmt: skip
        assert answered["status"] == "answered"

        async def closed() -> Any:
            case = await case_exists()
            return case if case and case["status"] == "closed" else None

        await eventually(closed, timeout=30)

        async def counted() -> Any:
            stats = await ok(await scoring.get("/v1/statistics", headers=org.auth("hs_leader")))
            return stats["knowledge"] if stats["knowledge"]["answered"] == 1 else None

        assert await eventually(counted, timeout=30) == {"answered": 1, "articles_used": 1}
