"""The knowledge base (知识库) in routing: drafts, review and publication, versions, the outbox
events intake keeps its copy by, expiry warnings, figures, scopes, verification citing an
article and a consultation answered by the knowledge base."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from routing_service.knowledge.answered import answer_from_knowledge
from routing_service.knowledge.service import knowledge_service, today
from routing_service.models import Case, CaseEvent, KnowledgeVersion, OutboxEvent, WebhookDelivery
from routing_service.worker import WorkerSettings, knowledge_expiry
from services.db import AsyncSessionMaker
from services.errors import ServiceUnavailable
from services.models import utcnow
from services.queue import QueueClient
from shared.events import RequestAnsweredByKnowledge
from tests.fixtures.environment import RUN_REDIS_URL
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, ok
from tests.routing_service.webhook.helpers import add_subscription

ARTICLES = "/v1/knowledge/articles"
SCRIPT = '公交线路调整请拨打 12345。<script>alert("x")</script>\n<b>不会被渲染</b>'


def article(**extra: Any) -> dict[str, Any]:
    body = {"topic": "transport", "question": "园区企业员工上下班没有公交线路怎么办?",
            "answer": "区交通运输局已开通园区通勤专线 K12 路,早晚高峰每 15 分钟一班。",
            "keywords": ["公交", "园区", "通勤"], "legal_basis": "《邯郸市城市公共交通条例》"}  # fmt: skip
    return {**body, **extra}


async def draft(client: httpx.AsyncClient, org: Org, user: str = "jt_liaison", **extra: Any) -> Any:
    return await ok(await client.post(ARTICLES, headers=org.auth(user), json=article(**extra)), 201)


async def publish(
    client: httpx.AsyncClient, org: Org, article_id: str, *, author: str = "jt_liaison"
) -> Any:
    await ok(await client.post(f"{ARTICLES}/{article_id}/submit", headers=org.auth(author)))
    return await ok(await client.post(f"{ARTICLES}/{article_id}/review",
                                      headers=org.auth("hs_supervisor"), json={"approve": True}))  # fmt: skip


async def outbox(sessionmaker: AsyncSessionMaker, queue: str) -> list[dict[str, Any]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.queue == queue).order_by(OutboxEvent.id)
        )
        return [row.envelope for row in rows]


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


class TestDraftReviewPublish:
    async def test_a_departments_draft_is_published_only_after_the_centers_review(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        created = await routing_client.post(
            ARTICLES, headers=org.auth("jt_liaison"), json=article(answer=SCRIPT)
        )
        body = await ok(created, 201)
        aid = body["id"]
        assert created.headers["location"] == f"{ARTICLES}/{aid}"
        assert (body["unit_code"], body["status"], body["current_version"]) == (
            "DEPT-JT",
            "draft",
            1,
        )
        assert body["published_version"] is None
        # The answer is text: stored and returned exactly as written, script and all.
        assert body["current"]["answer"] == SCRIPT
        assert body["current"]["written_by"] == "staff:jt_liaison"
        # A draft is not reviewed, and a department does not review (not even its own).
        early = await routing_client.post(f"{ARTICLES}/{aid}/review",
                                          headers=org.auth("hs_supervisor"), json={"approve": True})  # fmt: skip
        assert (early.status_code, code(early)) == (409, "article_not_in_review")
        submitted = await ok(
            await routing_client.post(f"{ARTICLES}/{aid}/submit", headers=org.auth("jt_liaison"))
        )
        assert submitted["status"] == "in_review"
        assert submitted["status_label"] == "待审核"
        by_dept = await routing_client.post(f"{ARTICLES}/{aid}/review",
                                            headers=org.auth("jt_head"), json={"approve": True})  # fmt: skip
        assert by_dept.status_code == 403
        assert await outbox(routing_sessionmaker, "intake") == []  # nothing public yet
        approved = await ok(await routing_client.post(f"{ARTICLES}/{aid}/review",
                                                      headers=org.auth("hs_supervisor"),
                                                      json={"approve": True, "note": "内容准确"}))  # fmt: skip
        assert (approved["status"], approved["published_version"]) == ("published", 1)
        assert approved["published"]["reviewed_by"] == "staff:hs_supervisor"
        assert approved["published"]["answer"] == SCRIPT
        (event,) = await outbox(routing_sessionmaker, "intake")
        assert event["type"] == "knowledge.published"
        assert event["data"]["answer"] == SCRIPT
        assert (event["data"]["article_id"], event["data"]["version"]) == (aid, 1)
        assert (event["data"]["unit_code"], event["data"]["unit_name"]) == (
            "DEPT-JT",
            "区交通运输局",
        )
        assert event["data"]["keywords"] == ["公交", "园区", "通勤"]
        detail = await ok(
            await routing_client.get(f"{ARTICLES}/{aid}", headers=org.auth("jt_liaison"))
        )
        assert [(e["actor"], e["action"]) for e in detail["history"]] == [
            ("staff:jt_liaison", "created"),
            ("staff:jt_liaison", "submitted"),
            ("staff:hs_supervisor", "approved"),
        ]

    async def test_the_author_cannot_approve_and_a_rejection_returns_to_draft(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        # A supervisor drafts for a department; the same supervisor may not approve it.
        aid = (await draft(routing_client, org, "hs_supervisor", unit_code="DEPT-JT"))["id"]
        await ok(
            await routing_client.post(f"{ARTICLES}/{aid}/submit", headers=org.auth("hs_supervisor"))
        )
        own = await routing_client.post(f"{ARTICLES}/{aid}/review",
                                        headers=org.auth("hs_supervisor"), json={"approve": True})  # fmt: skip
        assert (own.status_code, code(own)) == (403, "article_self_approval")
        no_note = await routing_client.post(f"{ARTICLES}/{aid}/review",
                                            headers=org.auth("hs_leader"), json={"approve": False})  # fmt: skip
        assert no_note.status_code == 422
        back = await ok(await routing_client.post(f"{ARTICLES}/{aid}/review", headers=org.auth("hs_leader"),
                                                  json={"approve": False, "note": "请补充办理时限"}))  # fmt: skip
        assert back["status"] == "draft"
        assert back["current"]["review_note"] == "请补充办理时限"
        assert back["current"]["reviewed_by"] == "staff:hs_leader"
        # Someone else who edits the draft becomes one of its authors too.
        edited = await ok(await routing_client.patch(f"{ARTICLES}/{aid}", headers=org.auth("jt_liaison"),
                                                     json={"answer": "K12 路工作日 6:30—20:00 运营。"}))  # fmt: skip
        assert edited["current"]["authors"] == ["staff:hs_supervisor", "staff:jt_liaison"]
        await ok(
            await routing_client.post(f"{ARTICLES}/{aid}/submit", headers=org.auth("jt_liaison"))
        )
        again = await routing_client.post(f"{ARTICLES}/{aid}/review",
                                          headers=org.auth("hs_supervisor"), json={"approve": True})  # fmt: skip
        assert code(again) == "article_self_approval"
        done = await ok(await routing_client.post(f"{ARTICLES}/{aid}/review",
                                                  headers=org.auth("hs_leader"), json={"approve": True}))  # fmt: skip
        assert done["status"] == "published"


class TestVersions:
    async def test_an_edit_of_a_published_article_is_a_new_version(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        aid = (await draft(routing_client, org))["id"]
        await publish(routing_client, org, aid)
        h = org.auth("jt_liaison")
        edited = await ok(await routing_client.patch(f"{ARTICLES}/{aid}", headers=h,
                                                     json={"answer": "K12 路已延长至园区二期。"}))  # fmt: skip
        assert (edited["status"], edited["current_version"], edited["published_version"]) == (
            "draft",
            2,
            1,
        )
        # The published version stays public while the new one is worked on.
        assert edited["published"]["answer"].startswith("区交通运输局已开通")
        assert edited["current"]["answer"] == "K12 路已延长至园区二期。"
        assert edited["current"]["question"] == edited["published"]["question"]
        await ok(await routing_client.post(f"{ARTICLES}/{aid}/submit", headers=h))
        locked = await routing_client.patch(
            f"{ARTICLES}/{aid}", headers=h, json={"answer": "改一下"}
        )
        assert (locked.status_code, code(locked)) == (409, "article_in_review")
        twice = await routing_client.post(f"{ARTICLES}/{aid}/submit", headers=h)
        assert (twice.status_code, code(twice)) == (409, "article_not_draft")
        await ok(await routing_client.post(f"{ARTICLES}/{aid}/review", headers=org.auth("hs_leader"),
                                           json={"approve": True}))  # fmt: skip
        detail = await ok(await routing_client.get(f"{ARTICLES}/{aid}", headers=h))
        assert [(v["version"], v["status"]) for v in detail["versions"]] == [
            (1, "superseded"), (2, "published")
        ]  # fmt: skip
        old = await ok(await routing_client.get(f"{ARTICLES}/{aid}/versions/1", headers=h))
        assert old["answer"].startswith("区交通运输局已开通")
        assert old["status_label"] == "已被新版本替代"
        missing = await routing_client.get(f"{ARTICLES}/{aid}/versions/9", headers=h)
        assert (missing.status_code, code(missing)) == (404, "article_version_not_found")
        events = await outbox(routing_sessionmaker, "intake")
        assert [(e["type"], e["data"]["version"]) for e in events] == [
            ("knowledge.published", 1), ("knowledge.published", 2)
        ]  # fmt: skip
        # Withdrawn: intake is told; a second withdrawal is refused.
        withdraw = f"{ARTICLES}/{aid}/withdraw"
        assert (
            await routing_client.post(withdraw, headers=h, json={"reason": "线路停运"})
        ).status_code == 403
        out = await ok(await routing_client.post(withdraw, headers=org.auth("hs_supervisor"),
                                                 json={"reason": "K12 路停运"}))  # fmt: skip
        assert (out["status"], out["published_version"]) == ("withdrawn", None)
        assert out["withdraw_reason"] == "K12 路停运"
        last = (await outbox(routing_sessionmaker, "intake"))[-1]
        assert (last["type"], last["data"]["article_id"]) == ("knowledge.withdrawn", aid)
        again = await routing_client.post(withdraw, headers=org.auth("hs_supervisor"),
                                          json={"reason": "再次撤回"})  # fmt: skip
        assert (again.status_code, code(again)) == (409, "article_already_withdrawn")
        never = (await draft(routing_client, org))["id"]
        unpublished = await routing_client.post(f"{ARTICLES}/{never}/withdraw",
                                                headers=org.auth("hs_supervisor"), json={"reason": "撤回"})  # fmt: skip
        assert code(unpublished) == "article_not_published"
        # Editing the withdrawn article opens version 3 as a draft.
        reopened = await ok(await routing_client.patch(f"{ARTICLES}/{aid}", headers=h,
                                                       json={"answer": "K12 路恢复运营。"}))  # fmt: skip
        assert (reopened["status"], reopened["current_version"]) == ("draft", 3)
        actions = [
            e["action"]
            for e in (await ok(await routing_client.get(f"{ARTICLES}/{aid}", headers=h)))["history"]
        ]
        assert actions == ["created", "submitted", "approved", "new_version", "submitted",
                           "approved", "withdrawn", "new_version"]  # fmt: skip

    async def test_an_empty_edit_changes_nothing(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        aid = (await draft(routing_client, org))["id"]
        await publish(routing_client, org, aid)
        same = await ok(await routing_client.patch(f"{ARTICLES}/{aid}", headers=org.auth("jt_liaison"),
                                                   json={"keywords": ["公交", "园区", "通勤"]}))  # fmt: skip
        assert (same["status"], same["current_version"]) == ("published", 1)


class TestBadInput:
    async def test_clear_4xx_and_nothing_written(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        h = org.auth("hs_operator")
        cases = {
            "article_unit_not_found": article(unit_code="DEPT-NOPE"),
            "article_unit_not_department": article(unit_code="HS-GM"),
            "article_dates_out_of_order": article(unit_code="DEPT-JT", valid_from="2026-12-31",
                                                  valid_until="2026-01-01"),
        }  # fmt: skip
        for expected, body in cases.items():
            r = await routing_client.post(ARTICLES, headers=h, json=body)
            assert (r.status_code, code(r)) == (422, expected), r.text
        # A center's staff name the department they write for.
        r = await routing_client.post(ARTICLES, headers=h, json=article())
        assert code(r) == "article_unit_not_department"
        for body in (article(answer=" \n "), article(question="问"), article(answer="含\x00控制字符"),
                     article(topic="weather"), article(keywords=["x"] * 21)):  # fmt: skip
            r = await routing_client.post(ARTICLES, headers=org.auth("jt_liaison"), json=body)
            assert (r.status_code, code(r)) == (422, "validation_error"), body
        async with routing_sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(KnowledgeVersion)) == 0
        aid = (await draft(routing_client, org, valid_from="2026-06-01"))["id"]
        r = await routing_client.patch(f"{ARTICLES}/{aid}", headers=org.auth("jt_liaison"),
                                       json={"valid_until": "2026-05-31"})  # fmt: skip
        assert (r.status_code, code(r)) == (422, "article_dates_out_of_order")
        # Clearing the start date lets the same end date stand.
        cleared = await ok(await routing_client.patch(f"{ARTICLES}/{aid}", headers=org.auth("jt_liaison"),
                                                      json={"valid_from": None, "valid_until": "2026-05-31"}))  # fmt: skip
        assert (cleared["current"]["valid_from"], cleared["current"]["valid_until"]) == (
            None,
            "2026-05-31",
        )
        assert (
            await routing_client.get(f"{ARTICLES}/{uuid.uuid4()}", headers=h)
        ).status_code == 404


class TestScopes:
    async def test_a_department_works_on_its_own_and_reads_what_is_published(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        jt = (await draft(routing_client, org))["id"]
        gh = (await draft(routing_client, org, "gh_liaison", topic="land",
                          question="工业用地出让需要什么条件?"))["id"]  # fmt: skip
        # Another department's draft does not exist for it; nor may it draft for another unit.
        assert (
            await routing_client.get(f"{ARTICLES}/{jt}", headers=org.auth("gh_liaison"))
        ).status_code == 404
        assert (await routing_client.patch(f"{ARTICLES}/{jt}", headers=org.auth("gh_liaison"),
                                           json={"answer": "改写"})).status_code == 404  # fmt: skip
        other = await routing_client.post(ARTICLES, headers=org.auth("gh_liaison"),
                                          json=article(unit_code="DEPT-JT"))  # fmt: skip
        assert (other.status_code, code(other)) == (403, "article_out_of_scope")
        # A street center does not write for the district's departments.
        street = await routing_client.post(ARTICLES, headers=org.auth("gm_operator"),
                                           json=article(unit_code="DEPT-JT"))  # fmt: skip
        assert code(street) == "article_out_of_scope"

        async def listed(user: str, **params: Any) -> list[str]:
            page = await ok(
                await routing_client.get(ARTICLES, headers=org.auth(user), params=params)
            )
            return [item["id"] for item in page["items"]]

        assert await listed("jt_liaison") == [jt]
        assert set(await listed("hs_operator")) == {jt, gh}
        assert await listed("gm_operator") == []
        await publish(routing_client, org, jt)
        await ok(await routing_client.patch(f"{ARTICLES}/{jt}", headers=org.auth("jt_liaison"),
                                            json={"answer": "新的答复草稿,尚未审核。"}))  # fmt: skip
        # Published: every reader sees it, but outside the owner only what was published.
        assert await listed("gh_liaison") == [jt, gh]
        seen = await ok(
            await routing_client.get(f"{ARTICLES}/{jt}", headers=org.auth("gh_liaison"))
        )
        assert [v["version"] for v in seen["versions"]] == [1]
        assert seen["current"]["version"] == 1
        assert seen["history"] == []
        page = await ok(await routing_client.get(ARTICLES, headers=org.auth("gm_operator")))
        assert [i["current"]["answer"] for i in page["items"]] == [article()["answer"]]
        hidden = await routing_client.get(
            f"{ARTICLES}/{jt}/versions/2", headers=org.auth("gm_operator")
        )
        assert hidden.status_code == 404
        denied = await routing_client.patch(f"{ARTICLES}/{jt}", headers=org.auth("gh_liaison"),
                                            json={"answer": "改写"})  # fmt: skip
        assert (denied.status_code, code(denied)) == (403, "article_out_of_scope")
        # Filters
        assert await listed("hs_operator", topic="land") == [gh]
        assert await listed("hs_operator", status="draft", unit="DEPT-GH") == [gh]
        assert await listed("hs_operator", status=["draft", "in_review"], unit="DEPT-JT") == [jt]

    async def test_the_list_pages_by_cursor(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        ids = [
            (await draft(routing_client, org, question=f"第{n}个常见问题是什么?"))["id"]
            for n in range(3)
        ]
        seen: list[str] = []
        cursor = None
        for _ in range(4):
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await ok(
                await routing_client.get(ARTICLES, headers=org.auth("jt_head"), params=params)
            )
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]
        counted = await ok(await routing_client.get(ARTICLES, headers=org.auth("jt_head"),
                                                    params={"with_total": True, "limit": 1}))  # fmt: skip
        assert counted["total"] == 3


class TestExpiryAndFigures:
    async def test_the_owner_is_warned_once_per_version_and_figures_count_it(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        await add_subscription(
            routing_sessionmaker, org.units["DEPT-JT"].id, ["knowledge.article_expiring"]
        )
        soon = (today() + timedelta(days=10)).isoformat()
        gone = (today() - timedelta(days=1)).isoformat()
        later = (today() + timedelta(days=90)).isoformat()
        expiring = (await draft(routing_client, org, valid_until=soon))["id"]
        expired = (
            await draft(routing_client, org, valid_until=gone, question="过期的答复是什么?")
        )["id"]
        lasting = (await draft(routing_client, org, valid_until=later, question="长期有效的答复?"))[
            "id"
        ]
        for aid in (expiring, expired, lasting):
            await publish(routing_client, org, aid)
        pending = (await draft(routing_client, org, question="待审核的答复是什么?"))["id"]
        await ok(
            await routing_client.post(
                f"{ARTICLES}/{pending}/submit", headers=org.auth("jt_liaison")
            )
        )
        await publish(routing_client, org, (await draft(routing_client, org, "gh_liaison"))["id"],
                      author="gh_liaison")  # fmt: skip

        figures = await ok(
            await routing_client.get("/v1/knowledge/figures", headers=org.auth("hs_leader"))
        )
        assert figures["expiring_window_days"] == 30
        by_unit = {u["unit_code"]: u for u in figures["units"]}
        assert set(by_unit) == {"DEPT-GH", "DEPT-FG", "DEPT-JT", "DEPT-GD", "DEPT-KG"}
        assert {k: by_unit["DEPT-JT"][k] for k in ("published", "in_review", "expiring", "expired")} == {
            "published": 3, "in_review": 1, "expiring": 1, "expired": 1
        }  # fmt: skip
        assert by_unit["DEPT-GH"]["published"] == 1
        assert by_unit["DEPT-FG"]["published"] == 0
        own = await ok(
            await routing_client.get("/v1/knowledge/figures", headers=org.auth("jt_liaison"))
        )
        assert [u["unit_code"] for u in own["units"]] == ["DEPT-JT"]
        page = await ok(await routing_client.get(ARTICLES, headers=org.auth("jt_liaison"),
                                                 params={"expiring_within_days": 30}))  # fmt: skip
        assert {i["id"] for i in page["items"]} == {expiring, expired}

        # The daily cron, then the same run again: one warning per version.
        queue = QueueClient(RUN_REDIS_URL)
        try:
            ctx = {"sessionmaker": routing_sessionmaker, "queue_client": queue}
            assert await knowledge_expiry(ctx) == {"warned": 2}
        finally:
            await queue.close()
        async with routing_sessionmaker() as session:
            assert await knowledge_service.warn_expiring(session) == 0
            await session.commit()
        async with routing_sessionmaker() as session:
            deliveries = (await session.scalars(select(WebhookDelivery))).all()
        payloads = sorted((d.payload["data"] for d in deliveries), key=lambda p: p["valid_until"])
        assert [d.event_type for d in deliveries] == ["knowledge.article_expiring"] * 2
        assert [(p["article_id"], p["valid_until"], p["unit_code"]) for p in payloads] == [
            (expired, gone, "DEPT-JT"), (expiring, soon, "DEPT-JT")
        ]  # fmt: skip
        detail = await ok(
            await routing_client.get(f"{ARTICLES}/{expiring}", headers=org.auth("jt_liaison"))
        )
        assert detail["published"]["warned_at"] is not None
        assert detail["history"][-1]["action"] == "expiry_warned"
        # A new version published with a later end is a new version: warned again when due.
        await ok(await routing_client.patch(f"{ARTICLES}/{expiring}", headers=org.auth("jt_liaison"),
                                            json={"valid_until": soon, "answer": "更新后的答复。"}))  # fmt: skip
        await publish(routing_client, org, expiring)
        async with routing_sessionmaker() as session:
            assert await knowledge_service.warn_expiring(session) == 1
            await session.commit()


async def _case_status(sessionmaker: AsyncSessionMaker, case_id: uuid.UUID) -> str:
    async with sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case.status


class TestVerifyCitesAnArticle:
    async def test_a_published_valid_article_is_cited_in_the_answer(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        aid = (await draft(routing_client, org, answer=SCRIPT))["id"]
        await publish(routing_client, org, aid)
        case_id = await arrive(routing_sessionmaker)
        verify = f"/v1/cases/{case_id}/verify"
        wrong = await routing_client.post(verify, headers=org.auth("hs_operator"), json={
            "decision": "accept", "classification": "general", "article_id": aid})  # fmt: skip
        assert wrong.status_code == 422
        answered = await ok(await routing_client.post(verify, headers=org.auth("hs_operator"), json={
            "decision": "answer", "answer": "您好,您反映的问题答复如下。", "article_id": aid}))  # fmt: skip
        assert answered["status"] == "answered"
        told = (await outbox(routing_sessionmaker, "intake"))[-1]
        assert told["data"]["status"] == "answered"
        note = told["data"]["note"]
        assert note.startswith("您好,您反映的问题答复如下。")
        assert article()["question"] in note
        assert SCRIPT in note
        async with routing_sessionmaker() as session:
            event = await session.scalar(select(CaseEvent).where(
                CaseEvent.case_id == case_id, CaseEvent.action == "verify.answer"))  # fmt: skip
        assert event is not None
        assert (event.data["article_id"], event.data["article_version"]) == (aid, 1)
        # Citing alone is an answer too.
        other = await arrive(routing_sessionmaker)
        await ok(await routing_client.post(f"/v1/cases/{other}/verify", headers=org.auth("hs_operator"),
                                           json={"decision": "answer", "article_id": aid}))  # fmt: skip

    @pytest.mark.parametrize(
        "problem", ["withdrawn", "expired", "not_yet_valid", "draft", "unknown"]
    )
    async def test_an_article_that_cannot_be_cited_is_a_422_and_nothing_is_written(
        self, problem: str, routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker, org: Org,
    ) -> None:  # fmt: skip
        dates = {
            "expired": {"valid_from": (today() - timedelta(days=30)).isoformat(),
                        "valid_until": (today() - timedelta(days=1)).isoformat()},
            "not_yet_valid": {"valid_from": (today() + timedelta(days=3)).isoformat()},
        }.get(problem, {})  # fmt: skip
        aid = (await draft(routing_client, org, **dates))["id"]
        if problem != "draft":
            await publish(routing_client, org, aid)
        if problem == "withdrawn":
            await ok(await routing_client.post(f"{ARTICLES}/{aid}/withdraw",
                                               headers=org.auth("hs_supervisor"), json={"reason": "政策调整"}))  # fmt: skip
        cited = str(uuid.uuid4()) if problem == "unknown" else aid
        case_id = await arrive(routing_sessionmaker)
        before = await outbox(routing_sessionmaker, "intake")
        r = await routing_client.post(f"/v1/cases/{case_id}/verify", headers=org.auth("hs_operator"),
                                      json={"decision": "answer", "answer": "答复如下", "article_id": cited})  # fmt: skip
        assert (r.status_code, code(r)) == (422, "article_not_citable"), r.text
        assert await _case_status(routing_sessionmaker, case_id) == "pending_verification"
        assert await outbox(routing_sessionmaker, "intake") == before
        async with routing_sessionmaker() as session:
            actions = (
                await session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id))
            ).all()
        assert list(actions) == ["create"]


class TestAnsweredByKnowledge:
    async def test_the_case_is_answered_with_the_article_and_closed_once(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        aid = (await draft(routing_client, org))["id"]
        await publish(routing_client, org, aid)
        request_id = uuid.uuid4()
        event = RequestAnsweredByKnowledge(request_id=request_id, tracking_no="YS2612070001",
                                           article_id=uuid.UUID(aid), version=1, answered_at=utcnow())  # fmt: skip
        # The case is not there yet: retried later (the relay delivers the event again).
        async with routing_sessionmaker() as session:
            with pytest.raises(ServiceUnavailable):
                await answer_from_knowledge(session, event)
        case_id = await arrive(
            routing_sessionmaker, request_id=request_id, tracking_no="YS2612070001"
        )
        for attempt in range(2):
            async with routing_sessionmaker() as session:
                done = await answer_from_knowledge(session, event)
                await session.commit()
            assert (done is not None) is (attempt == 0)
        case = await ok(
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("hs_operator"))
        )
        assert case["status"] == "closed"
        async with routing_sessionmaker() as session:
            events = (await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                            .order_by(CaseEvent.seq))).all()  # fmt: skip
        assert [e.action for e in events] == ["create", "knowledge.answered", "close"]
        assert (events[1].data["article_id"], events[1].data["article_version"]) == (aid, 1)
        assert events[1].actor == "submitter"
        told = [e["data"] for e in await outbox(routing_sessionmaker, "intake")
                if e["type"] == "case.status_changed"]  # fmt: skip
        assert [t["status"] for t in told] == ["verifying", "answered", "closed"]
        assert article()["question"] in told[1]["note"]

    async def test_a_case_past_verification_is_left_alone(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        request_id = uuid.uuid4()
        case_id = await arrive(routing_sessionmaker, request_id=request_id)
        await ok(await routing_client.post(f"/v1/cases/{case_id}/verify", headers=org.auth("hs_operator"),
                                           json={"decision": "accept", "classification": "general"}))  # fmt: skip
        event = RequestAnsweredByKnowledge(request_id=request_id, tracking_no="YS2612070002",
                                           article_id=uuid.uuid4(), version=1, answered_at=utcnow())  # fmt: skip
        async with routing_sessionmaker() as session:
            assert await answer_from_knowledge(session, event) is None
            await session.commit()
        assert await _case_status(routing_sessionmaker, case_id) == "awaiting_dispatch"

    async def test_the_worker_routes_the_event_and_runs_the_daily_expiry(self) -> None:
        from routing_service.worker import HANDLERS, on_request_answered_by_knowledge

        assert HANDLERS[RequestAnsweredByKnowledge.TYPE] is on_request_answered_by_knowledge
        crons = {job.name: job for job in WorkerSettings.cron_jobs}  # type: ignore[attr-defined]
        daily = crons["routing.knowledge_expiry"]
        assert (daily.hour, daily.minute, daily.second) == (1, 17, 0)
