"""A case's whole life in routing, through the API, with real deadlines and the history chain."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

import httpx
from sqlalchemy import select, update

from routing_service.models import ApiKey, Card, CaseEvent, OutboxEvent
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.calendar import SHANGHAI, default_calendar
from tests.fixtures.clients import make_key
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, key_headers, ok, verify_and_dispatch


async def outbox_types(sessionmaker: AsyncSessionMaker, queue: str) -> list[str]:
    async with sessionmaker() as session:
        rows = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.queue == queue).order_by(OutboxEvent.id)
            )
        ).all()
        if queue == "intake":
            return [row.envelope["data"]["status"] for row in rows]
        return [row.event_type for row in rows]


class TestCaseCreation:
    async def test_request_becomes_a_case_pending_verification(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(routing_sessionmaker)
        case = await ok(
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("hs_operator"))
        )
        assert case["status"] == "pending_verification"
        assert case["status_label"] == "待核查"
        # Verification has a 1-working-day limit.
        received_at = datetime.fromisoformat(case["received_at"])
        expected = default_calendar().add_working_days(received_at, 1).due_at
        assert datetime.fromisoformat(case["verify_due_at"]) == expected
        assert await outbox_types(routing_sessionmaker, "intake") == ["verifying"]
        assert await outbox_types(routing_sessionmaker, "scoring") == ["case.snapshot"]


class TestGeneralCase:
    async def test_dispatch_sign_extend_complete_review(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
        case_id = await arrive(routing_sessionmaker)
        case = await verify_and_dispatch(
            routing_client, org, case_id, instructions="请交通运输局会同公交总公司研究"
        )
        assert case["status"] == "dispatched"
        card = case["cards"][0]
        assert card["unit_code"] == "DEPT-JT"
        expected = default_calendar().add_working_days(
            datetime.fromisoformat(card["dispatched_at"]), 5
        )
        assert datetime.fromisoformat(card["due_at"]) == expected.due_at
        assert expected.due_at.astimezone(SHANGHAI).time() == time(23, 59, 59)
        card_id = card["id"]

        # Completing an unsigned card is refused.
        refused = await routing_client.post(
            f"/v1/cards/{card_id}/complete", headers=key_headers(jt_key), json={"result": "已办理"}
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "illegal_transition"

        signed = await ok(
            await routing_client.post(f"/v1/cards/{card_id}/sign", headers=key_headers(jt_key))
        )
        assert signed["status"] == "signed"
        assert signed["contact_due_at"] is not None
        await ok(await routing_client.post(f"/v1/cards/{card_id}/contact", headers=key_headers(jt_key),
                                           json={"text": "已电话联系企业张总,约定现场查看"}))  # fmt: skip

        extension = await ok(await routing_client.post(f"/v1/cards/{card_id}/extensions", headers=key_headers(jt_key),
                                                       json={"days": 3, "reason": "需与市公交总公司协商线路调整"}), 201)  # fmt: skip
        second = await routing_client.post(f"/v1/cards/{card_id}/extensions", headers=key_headers(jt_key),
                                           json={"days": 1, "reason": "再申请一次试试"})  # fmt: skip
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "extension_not_allowed"
        # A department cannot decide its own extension.
        denied = await routing_client.post(f"/v1/cards/{card_id}/extensions/{extension['id']}/decide",
                                           headers=org.auth("jt_liaison"), json={"approve": True})  # fmt: skip
        assert denied.status_code == 403
        before_due = signed["due_at"]
        approved = await ok(await routing_client.post(f"/v1/cards/{card_id}/extensions/{extension['id']}/decide",
                                                      headers=org.auth("hs_supervisor"), json={"approve": True, "note": "同意"}))  # fmt: skip
        assert approved["extension_approved"] is True
        assert approved["due_at"] > before_due
        assert "extended" in await outbox_types(routing_sessionmaker, "intake")

        done = await ok(await routing_client.post(f"/v1/cards/{card_id}/complete", headers=key_headers(jt_key),
                                                  json={"result": "延伸23路、新开90路公交", "evidence": ["https://example.org/bus.jpg"]}))  # fmt: skip
        assert done["status"] == "submitted"
        sent_back = await ok(await routing_client.post(f"/v1/cards/{card_id}/review", headers=org.auth("hs_dispatcher"),
                                                       json={"accept": False, "note": "请补充公交枢纽站建设计划"}))  # fmt: skip
        assert sent_back["status"] == "signed"
        await ok(await routing_client.post(f"/v1/cards/{card_id}/complete", headers=key_headers(jt_key),
                                           json={"result": "延伸23路、新开90路,枢纽站年内建成"}))  # fmt: skip
        await ok(
            await routing_client.post(
                f"/v1/cards/{card_id}/review",
                headers=org.auth("hs_dispatcher"),
                json={"accept": True},
            )
        )
        final = await ok(
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("hs_operator"))
        )
        assert final["status"] == "completed"
        assert await outbox_types(routing_sessionmaker, "intake") == [
            "verifying", "verifying", "dispatched", "in_progress", "extended", "completed",
        ]  # fmt: skip

        check = await ok(
            await routing_client.get(
                f"/v1/cases/{case_id}/history/verify", headers=org.auth("auditor")
            )
        )
        assert check["valid"] is True
        assert check["events"] >= 10

    async def test_signing_a_returned_card_is_409_and_idempotency_replays(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
        case = await verify_and_dispatch(routing_client, org, await arrive(routing_sessionmaker))
        card_id = case["cards"][0]["id"]
        headers = {**key_headers(jt_key), "Idempotency-Key": "ret-1"}
        first = await ok(
            await routing_client.post(
                f"/v1/cards/{card_id}/return", headers=headers, json={"reason": "不属于本单位职责"}
            )
        )
        again = await routing_client.post(
            f"/v1/cards/{card_id}/return", headers=headers, json={"reason": "不属于本单位职责"}
        )
        assert again.status_code == 200
        assert again.json() == first
        sign = await routing_client.post(f"/v1/cards/{card_id}/sign", headers=key_headers(jt_key))
        assert sign.status_code == 409
        assert sign.json()["error"]["code"] == "illegal_transition"


class TestReturns:
    async def test_two_returns_force_designation(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
        gh_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-GH")
        case_id = await arrive(routing_sessionmaker)
        case = await verify_and_dispatch(routing_client, org, case_id)
        await ok(
            await routing_client.post(
                f"/v1/cards/{case['cards'][0]['id']}/return",
                headers=key_headers(jt_key),
                json={"reason": "应由规划部门办理"},
            )
        )
        case = await ok(await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                                  json={"units": [{"unit_code": "DEPT-GH"}]}))  # fmt: skip
        gh_card = next(c for c in case["cards"] if c["unit_code"] == "DEPT-GH")
        await ok(
            await routing_client.post(
                f"/v1/cards/{gh_card['id']}/return",
                headers=key_headers(gh_key),
                json={"reason": "应由交通部门办理"},
            )
        )
        state = await ok(
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("hs_dispatcher"))
        )
        assert state["must_designate"] is True
        refused = await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                            json={"units": [{"unit_code": "DEPT-JT"}]})  # fmt: skip
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "designation_required"
        case = await ok(await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                                  json={"units": [{"unit_code": "DEPT-JT"}], "designate": True}))  # fmt: skip
        designated = next(c for c in case["cards"] if c["status"] == "dispatched")
        blocked = await routing_client.post(
            f"/v1/cards/{designated['id']}/return",
            headers=key_headers(jt_key),
            json={"reason": "还是不归我们管"},
        )
        assert blocked.status_code == 409
        assert blocked.json()["error"]["code"] == "card_designated"

    async def test_redispatch_answer_keeps_the_first_dispatchs_milestones(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
        case_id = await arrive(routing_sessionmaker)
        first = await verify_and_dispatch(
            routing_client, org, case_id, milestones=[{"name": "现场踏勘", "days": 3}]
        )
        assert [m["name"] for m in first["milestones"]] == ["现场踏勘"]
        await ok(await routing_client.post(f"/v1/cards/{first['cards'][0]['id']}/return", headers=key_headers(jt_key),
                                           json={"reason": "应由规划部门办理"}))  # fmt: skip
        again = await ok(await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                                   json={"units": [{"unit_code": "DEPT-GH"}]}))  # fmt: skip
        # The answer is read back whole: both cards, and the milestone of the first dispatch.
        assert len(again["cards"]) == 2
        assert again["milestones"] == first["milestones"]
        state = await ok(
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("hs_dispatcher"))
        )
        assert state["milestones"] == again["milestones"]

    async def test_return_window_is_two_working_days(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
        case = await verify_and_dispatch(routing_client, org, await arrive(routing_sessionmaker))
        card_id = uuid.UUID(case["cards"][0]["id"])
        async with routing_sessionmaker() as session:
            await session.execute(
                update(Card)
                .where(Card.id == card_id)
                .values(return_deadline_at=utcnow() - timedelta(minutes=1))
            )
            await session.commit()
        late = await routing_client.post(
            f"/v1/cards/{card_id}/return",
            headers=key_headers(jt_key),
            json={"reason": "不属于本单位职责"},
        )
        assert late.status_code == 409
        assert late.json()["error"]["code"] == "return_window_closed"


class TestMultiDepartment:
    async def test_lead_completes_after_co_handlers(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        keys = {
            code: await make_key(routing_sessionmaker, ApiKey, code)
            for code in ("DEPT-GH", "DEPT-FG", "DEPT-GD")
        }
        case_id = await arrive(
            routing_sessionmaker,
            title="邯郸制药三期土地使用证办理",
            description="三期项目土地招拍挂后办理土地使用证,需国土、规划、发改等部门帮办代办。",
        )
        units = [
            {"unit_code": "DEPT-GH", "role": "lead"},
            {"unit_code": "DEPT-FG", "role": "co"},
            {"unit_code": "DEPT-GD", "role": "co"},
        ]
        case = await verify_and_dispatch(
            routing_client, org, case_id, classification="multi", units=units
        )
        cards = {c["unit_code"]: c["id"] for c in case["cards"]}
        for code, card_id in cards.items():
            await ok(
                await routing_client.post(
                    f"/v1/cards/{card_id}/sign", headers=key_headers(keys[code])
                )
            )
        early = await routing_client.post(
            f"/v1/cards/{cards['DEPT-GH']}/complete",
            headers=key_headers(keys["DEPT-GH"]),
            json={"result": "已办结土地证"},
        )
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "co_inputs_pending"
        assert sorted(early.json()["error"]["details"]["waiting_for"]) == ["DEPT-FG", "DEPT-GD"]
        for code in ("DEPT-FG", "DEPT-GD"):
            await ok(
                await routing_client.post(
                    f"/v1/cards/{cards[code]}/complete",
                    headers=key_headers(keys[code]),
                    json={"result": f"{code} 协办意见已提交"},
                )
            )
        await ok(
            await routing_client.post(
                f"/v1/cards/{cards['DEPT-GH']}/complete",
                headers=key_headers(keys["DEPT-GH"]),
                json={"result": "10月19日完成摘牌,土地使用证已办理"},
            )
        )
        await ok(
            await routing_client.post(
                f"/v1/cards/{cards['DEPT-GH']}/review",
                headers=org.auth("hs_supervisor"),
                json={"accept": True},
            )
        )
        final = await ok(
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("hs_supervisor"))
        )
        assert final["status"] == "completed"
        assert {c["status"] for c in final["cards"]} == {"approved"}

    async def test_dispatch_shape_is_validated(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(routing_sessionmaker)
        await ok(
            await routing_client.post(
                f"/v1/cases/{case_id}/verify",
                headers=org.auth("hs_operator"),
                json={"decision": "accept", "classification": "multi"},
            )
        )
        two_leads = await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                              json={"units": [{"unit_code": "DEPT-GH", "role": "lead"}, {"unit_code": "DEPT-JT", "role": "lead"}]})  # fmt: skip
        assert two_leads.status_code == 422
        unknown = await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                            json={"units": [{"unit_code": "NOPE", "role": "lead"}, {"unit_code": "DEPT-JT", "role": "co"}]})  # fmt: skip
        assert unknown.status_code == 422
        assert unknown.json()["error"]["code"] == "unit_not_found"


class TestVerificationOutcomes:
    async def test_reject_answer_merge(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        rejected = await arrive(routing_sessionmaker)
        body = await ok(await routing_client.post(f"/v1/cases/{rejected}/verify", headers=org.auth("hs_operator"),
                                                  json={"decision": "reject", "reason": "已进入诉讼程序,请通过法律途径解决"}))  # fmt: skip
        assert body["status"] == "rejected"
        answered = await arrive(routing_sessionmaker, type="consult")
        body = await ok(await routing_client.post(f"/v1/cases/{answered}/verify", headers=org.auth("hs_operator"),
                                                  json={"decision": "answer", "answer": "企业名称可通过邯山智慧大厅自主申报,2日内办结。"}))  # fmt: skip
        assert body["status"] == "answered"
        target_id = await arrive(routing_sessionmaker)
        target = await ok(
            await routing_client.get(f"/v1/cases/{target_id}", headers=org.auth("hs_operator"))
        )
        merged = await arrive(routing_sessionmaker)
        body = await ok(await routing_client.post(f"/v1/cases/{merged}/verify", headers=org.auth("hs_operator"),
                                                  json={"decision": "merge", "reason": "同一事项", "merge_into": target["tracking_no"]}))  # fmt: skip
        assert body["status"] == "merged"
        again = await routing_client.post(
            f"/v1/cases/{merged}/verify",
            headers=org.auth("hs_operator"),
            json={"decision": "accept", "classification": "general"},
        )
        assert again.status_code == 409

    async def test_violation_goes_to_the_discipline_commission(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(
            routing_sessionmaker, type="report", title="办事窗口吃拿卡要", confidential=True
        )
        answer = await routing_client.post(f"/v1/cases/{case_id}/transfer", headers=org.auth("hs_supervisor"),
                                           json={"reason": "反映工作人员索要好处费,涉嫌吃拿卡要", "subject_unit_code": "DEPT-KG"})  # fmt: skip
        transfer = await ok(answer, 201)
        # A transfer has no route of its own: Location names the case that shows it.
        assert answer.headers["location"] == f"/v1/cases/{case_id}"
        assert transfer["subject_unit_code"] == "DEPT-KG"
        listed = await ok(await routing_client.get("/v1/transfers", headers=org.auth("jw_officer")))
        assert [t["tracking_no"] for t in listed["items"]] == [transfer["tracking_no"]]
        assert listed["next_cursor"] is None
        assert (
            await routing_client.get("/v1/transfers", headers=org.auth("hs_dispatcher"))
        ).status_code == 403
        case = await ok(
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("hs_supervisor"))
        )
        assert case["status"] == "transferred"
        assert case["classification"] == "violation"


class TestScope:
    async def test_units_and_streets_see_only_their_part(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
        gh_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-GH")
        case_id = await arrive(routing_sessionmaker)
        card_id = (await verify_and_dispatch(routing_client, org, case_id))["cards"][0]["id"]
        assert (
            await routing_client.get(f"/v1/cards/{card_id}", headers=key_headers(jt_key))
        ).status_code == 200
        for headers in (key_headers(gh_key), org.auth("gh_liaison")):
            assert (
                await routing_client.get(f"/v1/cards/{card_id}", headers=headers)
            ).status_code == 404
            assert (
                await routing_client.post(f"/v1/cards/{card_id}/sign", headers=headers)
            ).status_code == 404
        # A street operator sees neither the district's case nor the department's card.
        assert (
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("gm_operator"))
        ).status_code == 404
        listing = await ok(await routing_client.get("/v1/cases?with_total=true",
                                                    headers=org.auth("gm_operator")))  # fmt: skip
        assert (listing["total"], listing["items"]) == (0, [])
        listing = await ok(await routing_client.get("/v1/cases?with_total=true",
                                                    headers=org.auth("hs_operator")))  # fmt: skip
        assert (listing["total"], len(listing["items"])) == (1, 1)
        # Department staff cannot verify or dispatch.
        denied = await routing_client.post(f"/v1/cases/{case_id}/verify", headers=org.auth("jt_liaison"),
                                           json={"decision": "reject", "reason": "试图越权"})  # fmt: skip
        assert denied.status_code == 403
        assert (await routing_client.get("/v1/cases")).status_code == 401

    async def test_street_sees_cases_dispatched_into_its_subtree(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(routing_sessionmaker)
        await verify_and_dispatch(routing_client, org, case_id, units=[{"unit_code": "HS-GM"}])
        assert (
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("gm_operator"))
        ).status_code == 200
        assert (
            await routing_client.get(f"/v1/cases/{case_id}", headers=org.auth("yq_operator"))
        ).status_code == 404


class TestSelfApproval:
    async def test_approving_your_own_extension_is_409(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case = await verify_and_dispatch(routing_client, org, await arrive(routing_sessionmaker))
        card_id = case["cards"][0]["id"]
        admin = org.auth("admin")
        await ok(await routing_client.post(f"/v1/cards/{card_id}/sign", headers=admin))
        extension = await ok(
            await routing_client.post(
                f"/v1/cards/{card_id}/extensions",
                headers=admin,
                json={"days": 2, "reason": "应急代办"},
            ),
            201,
        )
        response = await routing_client.post(
            f"/v1/cards/{card_id}/extensions/{extension['id']}/decide",
            headers=admin,
            json={"approve": True},
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "self_approval"


class TestRedo:
    async def test_second_redo_escalates(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
        case_id = await arrive(routing_sessionmaker)
        card_id = (await verify_and_dispatch(routing_client, org, case_id))["cards"][0]["id"]
        await ok(
            await routing_client.post(f"/v1/cards/{card_id}/sign", headers=key_headers(jt_key))
        )

        async def finish() -> None:
            await ok(
                await routing_client.post(
                    f"/v1/cards/{card_id}/complete",
                    headers=key_headers(jt_key),
                    json={"result": "已办理完毕"},
                )
            )
            await ok(
                await routing_client.post(
                    f"/v1/cards/{card_id}/review",
                    headers=org.auth("hs_dispatcher"),
                    json={"accept": True},
                )
            )

        await finish()
        first = await ok(
            await routing_client.post(
                f"/v1/cases/{case_id}/redo",
                headers=org.auth("hs_supervisor"),
                json={"reason": "企业不满意:公交仍未开通"},
            )
        )
        assert first["status"] == "in_progress"
        assert first["redo_count"] == 1
        assert not first["escalated"]
        redo_card = first["cards"][0]
        assert redo_card["status"] == "signed"
        assert redo_card["redo_count"] == 1
        assert (
            redo_card["due_at"]
            == (
                await ok(
                    await routing_client.get(f"/v1/cards/{card_id}", headers=key_headers(jt_key))
                )
            )["due_at"]
        )
        await finish()
        second = await ok(
            await routing_client.post(
                f"/v1/cases/{case_id}/redo",
                headers=org.auth("hs_supervisor"),
                json={"reason": "仍不满意"},
            )
        )
        assert second["escalated"] is True
        events = await ok(
            await routing_client.get(
                "/v1/supervision/events?level=escalated", headers=org.auth("hs_leader")
            )
        )
        assert len(events["items"]) == 1
        assert "提级督办" in events["items"][0]["notice"]
        not_completed = await routing_client.post(
            f"/v1/cases/{case_id}/redo",
            headers=org.auth("hs_supervisor"),
            json={"reason": "第三次"},
        )
        assert not_completed.status_code == 409
        assert not_completed.json()["error"]["code"] == "redo_not_allowed"


class TestHistoryChain:
    async def test_tampering_is_detected(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(routing_sessionmaker)
        await verify_and_dispatch(routing_client, org, case_id)
        assert (
            await ok(
                await routing_client.get(
                    f"/v1/cases/{case_id}/history/verify", headers=org.auth("auditor")
                )
            )
        )["valid"]
        async with routing_sessionmaker() as session:
            await session.execute(
                update(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.seq == 2)
                .values(actor="staff:someone_else")
            )
            await session.commit()
        check = await ok(
            await routing_client.get(
                f"/v1/cases/{case_id}/history/verify", headers=org.auth("auditor")
            )
        )
        assert check["valid"] is False
        assert check["broken_at_seq"] == 2
        broken = await ok(await routing_client.get("/v1/audit/verify", headers=org.auth("auditor")))
        assert [b["case_id"] for b in broken["items"]] == [str(case_id)]
        assert (
            await routing_client.get(
                f"/v1/cases/{case_id}/history/verify", headers=org.auth("hs_dispatcher")
            )
        ).status_code == 403


class TestSuspend:
    async def test_clock_pauses(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case = await verify_and_dispatch(routing_client, org, await arrive(routing_sessionmaker))
        card_id = case["cards"][0]["id"]
        suspended = await ok(await routing_client.post(f"/v1/cards/{card_id}/suspend", headers=org.auth("hs_supervisor"),
                                                       json={"reason": "诉求人联系不上", "kind": "unreachable"}))  # fmt: skip
        assert suspended["status"] == "suspended"
        # Pretend the suspension lasted from 10 days ago.
        async with routing_sessionmaker() as session:
            await session.execute(
                update(Card)
                .where(Card.id == uuid.UUID(card_id))
                .values(suspended_at=utcnow() - timedelta(days=10))
            )
            await session.commit()
        resumed = await ok(
            await routing_client.post(
                f"/v1/cards/{card_id}/resume", headers=org.auth("hs_supervisor")
            )
        )
        assert resumed["status"] == "dispatched"
        assert resumed["due_at"] > case["cards"][0]["due_at"]
        async with routing_sessionmaker() as session:
            card = await session.get(Card, uuid.UUID(card_id))
            assert card is not None
            assert card.paused_days >= 6


class TestSpecialCase:
    async def test_project_agency_work_is_tracked_by_milestones(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(
            routing_sessionmaker,
            title="邯郸制药三期项目全程帮办代办",
            description="项目前期手续、土地指标、供电供水、管网铺设、道路整修全程帮办。",
        )
        milestones = [
            {"name": "前期手续跑办", "days": 5, "unit_code": "DEPT-FG"},
            {"name": "土地指标争跑", "days": 15, "unit_code": "DEPT-GH"},
            {"name": "供电接入", "days": 20},
        ]
        units = [{"unit_code": "DEPT-GH", "role": "lead"}, {"unit_code": "DEPT-FG", "role": "co"}]
        await ok(await routing_client.post(f"/v1/cases/{case_id}/verify", headers=org.auth("hs_operator"),
                                           json={"decision": "accept", "classification": "multi"}))  # fmt: skip
        case = await ok(await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                                  json={"units": units, "milestones": milestones}))  # fmt: skip
        assert [m["name"] for m in case["milestones"]] == [
            "前期手续跑办",
            "土地指标争跑",
            "供电接入",
        ]
        dispatched = datetime.fromisoformat(case["cards"][0]["dispatched_at"])
        for milestone, spec in zip(case["milestones"], milestones, strict=True):
            assert (
                datetime.fromisoformat(milestone["due_at"])
                == default_calendar().add_working_days(dispatched, spec["days"]).due_at
            )
        first = case["milestones"][0]["id"]
        done = await ok(await routing_client.post(f"/v1/cases/{case_id}/milestones/{first}/done", headers=org.auth("hs_dispatcher"),
                                                  json={"note": "项目备案已当场办结"}))  # fmt: skip
        assert done["done_at"] is not None
        history = await ok(
            await routing_client.get(
                f"/v1/cases/{case_id}/history", headers=org.auth("hs_dispatcher")
            )
        )
        assert history[-1]["action"] == "milestone.done"
