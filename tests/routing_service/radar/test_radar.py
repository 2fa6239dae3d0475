"""The hot-issue radar: clusters formed as requests arrive, hot once per threshold, a proactive
case that handles the cluster and answers every submitter."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from routing_service.models import Case, HotIssue, OutboxEvent, WebhookDelivery
from routing_service.radar.service import radar_service
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.enums import SubmitterKind
from shared.events import SubmitterInfo
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive as arrive_only
from tests.routing_service.assignment.helpers import ok
from tests.routing_service.webhook.helpers import add_subscription

# Ten enterprises of one park about its buses, in their own words.
BUS = [
    ("希望增加园区公交班次", "新兴国际园区员工上下班等公交要一个小时,希望增加公交班次。"),
    ("园区公交车太少", "我们公司在新兴国际园区,员工上下班坐公交很不方便,班次太少。"),
    ("园区没有直达公交", "新兴国际园区到市区没有直达公交,员工上下班只能打车。"),
    ("申请开通园区公交线路", "园区企业多,员工上下班需要公交,请开通到园区的公交线路。"),
    ("园区公交班次少等车久", "每天下班在园区门口等公交车要四十分钟,希望增加班次。"),
    ("园区通勤公交问题", "新兴国际园区的公交车班次太少,员工通勤困难。"),
    ("园区周边公交站点少", "新兴国际园区周边公交站点少、班次少,上下班不方便。"),
    ("增加园区公交", "建议公交公司增加园区线路和班次,方便企业员工上下班。"),
    ("园区员工坐公交难", "园区员工坐公交难,早晚高峰公交车挤不上,请增加班次。"),
    ("园区公交线路少", "新兴国际园区只有一条公交线路,班次少,员工上下班困难。"),
]


async def arrive(sessionmaker: AsyncSessionMaker, **overrides: Any) -> uuid.UUID:
    """A request arrives and the routing worker places it on the radar (its ``radar.place``)."""
    case_id = await arrive_only(sessionmaker, **overrides)
    async with sessionmaker() as session:
        await radar_service.place(session, case_id)
        await session.commit()
    return case_id


def submitter(n: int) -> SubmitterInfo:
    return SubmitterInfo(kind=SubmitterKind.enterprise, name=f"企业联系人{n}",
                         phone=f"1381234{n:04d}", uscc=None)  # fmt: skip


async def bus_requests(sessionmaker: AsyncSessionMaker, count: int, *, area: str = "HS-GM-C1",
                       start: int = 0) -> list[uuid.UUID]:  # fmt: skip
    from shared.events import Location

    now = utcnow()
    ids = []
    for n in range(start, start + count):
        title, text = BUS[n % len(BUS)]
        ids.append(await arrive(sessionmaker, title=title, description=text, submitter=submitter(n),
                                location=Location(area_code=area),
                                received_at=now - timedelta(hours=(count - n) * 5)))  # fmt: skip
    return ids


async def clusters(sessionmaker: AsyncSessionMaker) -> list[HotIssue]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(HotIssue).order_by(HotIssue.created_at))).all())


async def test_ten_bus_requests_form_one_hot_cluster_told_once(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    street = org.units["HS-GM"]
    await add_subscription(routing_sessionmaker, street.id, ["hot_issue.detected"])
    await bus_requests(routing_sessionmaker, 4)
    [cluster] = await clusters(routing_sessionmaker)
    assert (cluster.state, cluster.requests, cluster.submitters) == ("forming", 4, 4)
    # The same submitter writing again is not a new voice.
    from shared.events import Location

    await arrive(routing_sessionmaker, title=BUS[0][0], description=BUS[0][1], submitter=submitter(0),
                 location=Location(area_code="HS-GM-C1"))  # fmt: skip
    [cluster] = await clusters(routing_sessionmaker)
    assert (cluster.state, cluster.requests, cluster.submitters) == ("forming", 5, 4)
    await bus_requests(routing_sessionmaker, 6, start=4)
    # Another street's bus request and another problem in this street do not join.
    await arrive(routing_sessionmaker, title=BUS[1][0], description=BUS[1][1], submitter=submitter(50),
                 location=Location(area_code="HS-YQ"))  # fmt: skip
    await arrive(routing_sessionmaker, title="光明路红绿灯故障", description="光明路与和平路交叉口红绿灯坏了三天,车辆拥堵。",
                 submitter=submitter(51), location=Location(area_code="HS-GM-C1"))  # fmt: skip
    found = await clusters(routing_sessionmaker)
    assert len(found) == 3
    bus = found[0]
    assert (bus.state, bus.requests, bus.submitters) == ("hot", 11, 10)
    assert {c.requests for c in found[1:]} == {1}
    # Told once (the 5/7d threshold), however many joined after it turned hot.
    async with routing_sessionmaker() as session:
        told = (await session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "hot_issue.detected")
        )).all()  # fmt: skip
        assert len(told) == 1
        assert told[0].payload["data"]["submitters"] == 5
        assert told[0].payload["data"]["area_code"] == "HS-GM"

    # The street's staff see it, with its members and trend; another street's do not.
    page = await ok(await routing_client.get("/v1/hot-issues", headers=org.auth("gm_operator"),
                                             params={"state": "hot"}))  # fmt: skip
    assert [c["id"] for c in page["items"]] == [str(bus.id)]
    other = await ok(await routing_client.get("/v1/hot-issues", headers=org.auth("yq_operator")))
    assert [c["area_unit_code"] for c in other["items"]] == ["HS-YQ"]
    hidden = await routing_client.get(f"/v1/hot-issues/{bus.id}", headers=org.auth("yq_operator"))
    assert hidden.status_code == 404
    detail = await ok(
        await routing_client.get(f"/v1/hot-issues/{bus.id}", headers=org.auth("gm_operator"))
    )
    assert len(detail["members"]) == 11
    assert sum(p["requests"] for p in detail["trend"]) == 11
    assert detail["alerts"] == ["5/7d"]


async def test_a_proactive_case_answers_every_submitter(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    members = await bus_requests(routing_sessionmaker, 6)
    [cluster] = await clusters(routing_sessionmaker)
    url = f"/v1/hot-issues/{cluster.id}"
    bad = await routing_client.post(f"{url}/proactive-case", headers=org.auth("hs_dispatcher"),
                                    json={"classification": "violation"})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "proactive_classification_invalid"
    opened = await routing_client.post(f"{url}/proactive-case", headers=org.auth("hs_dispatcher"),
                                       json={"classification": "general", "note": "协调公交公司加密园区线路"})  # fmt: skip
    body = await ok(opened, 201)
    assert body["state"] == "handling"
    case_id = body["proactive_case_id"]
    assert opened.headers["location"].endswith(f"/v1/cases/{case_id}")
    again = await routing_client.post(
        f"{url}/proactive-case", headers=org.auth("hs_dispatcher"), json={}
    )
    assert again.json()["error"]["code"] == "proactive_case_exists"
    # A request joining later is linked too.
    late = (await bus_requests(routing_sessionmaker, 1, start=6))[0]
    async with routing_sessionmaker() as session:
        linked = (
            await session.scalars(select(Case.status).where(Case.id.in_([*members, late])))
        ).all()
        assert set(linked) == {"in_progress"}

    # The proactive case is dispatched and done like any case.
    dispatched = await ok(await routing_client.post(f"/v1/cases/{case_id}/dispatch", headers=org.auth("hs_dispatcher"),
                                                    json={"units": [{"unit_code": "DEPT-JT"}]}))  # fmt: skip
    card = dispatched["cards"][0]["id"]
    await ok(await routing_client.post(f"/v1/cards/{card}/sign", headers=org.auth("jt_liaison")))
    await ok(await routing_client.post(f"/v1/cards/{card}/complete", headers=org.auth("jt_liaison"),
                                       json={"result": "已新开园区专线,早晚高峰10分钟一班"}))  # fmt: skip
    await ok(await routing_client.post(f"/v1/cards/{card}/review", headers=org.auth("hs_dispatcher"),
                                       json={"accept": True}))  # fmt: skip
    # Every member is completed with the result, told through its channel, and (through its
    # snapshot) asked to rate; the cluster is resolved.
    async with routing_sessionmaker() as session:
        done = (await session.scalars(select(Case).where(Case.id.in_([*members, late])))).all()
        assert {c.status for c in done} == {"completed"}
        told = (await session.scalars(
            select(OutboxEvent.envelope).where(OutboxEvent.event_type == "case.status_changed")
        )).all()  # fmt: skip
        completed = [p for p in told if p["data"]["status"] == "completed"]
        assert {p["data"]["tracking_no"] for p in completed} == {c.tracking_no for c in done}
        assert all(p["data"]["note"] == "已新开园区专线,早晚高峰10分钟一班" for p in completed)
        proactive = await session.get(Case, uuid.UUID(case_id))
        assert proactive is not None
        assert proactive.status == "closed"
    detail = await ok(await routing_client.get(url, headers=org.auth("gm_operator")))
    assert detail["state"] == "resolved"


async def test_members_themes_policy_and_bad_input(
    routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    from shared.events import Location

    await bus_requests(routing_sessionmaker, 2)
    odd = await arrive(routing_sessionmaker, title="公交末班车太早", description="下午五点半就没车了。",
                       submitter=submitter(70), location=Location(area_code="HS-GM-C1"))  # fmt: skip
    found = await clusters(routing_sessionmaker)
    assert len(found) == 2  # worded too differently for the radar
    bus, lonely = found
    async with routing_sessionmaker() as session:
        odd_case = await session.get(Case, odd)
        assert odd_case is not None
        odd_no = odd_case.tracking_no
    h = org.auth("hs_dispatcher")
    # The center moves it to the bus cluster; the one it started empties and closes.
    moved = await ok(await routing_client.post(f"/v1/hot-issues/{bus.id}/members", headers=h,
                                               json={"tracking_no": odd_no}))  # fmt: skip
    assert moved["requests"] == 3
    assert any(m["tracking_no"] == odd_no and m["joined_by"] != "system" for m in moved["members"])
    emptied = await ok(await routing_client.get(f"/v1/hot-issues/{lonely.id}", headers=h))
    assert (emptied["requests"], emptied["state"]) == (0, "resolved")
    # Once a proactive case handles it, it cannot go to another cluster.
    await ok(
        await routing_client.post(f"/v1/hot-issues/{bus.id}/proactive-case", headers=h, json={}),
        201,
    )
    third = await arrive(routing_sessionmaker, title="光明路路面塌陷", description="路面塌陷一个大坑,车辆只能绕行。",
                         submitter=submitter(71), location=Location(area_code="HS-GM-C1"))  # fmt: skip
    async with routing_sessionmaker() as session:
        third_case = await session.get(Case, third)
        assert third_case is not None
    third_cluster = next(
        c for c in await clusters(routing_sessionmaker) if c.id not in (bus.id, lonely.id)
    )
    twice = await routing_client.post(f"/v1/hot-issues/{third_cluster.id}/members", headers=h,
                                      json={"tracking_no": odd_no})  # fmt: skip
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "already_clustered"
    # The month's theme: one per street.
    month = utcnow().strftime("%Y-%m")
    await ok(await routing_client.post(f"/v1/hot-issues/{bus.id}/theme", headers=org.auth("hs_leader"),
                                       json={"month": month}))  # fmt: skip
    taken = await routing_client.post(f"/v1/hot-issues/{third_cluster.id}/theme", headers=org.auth("hs_leader"),
                                      json={"month": month})  # fmt: skip
    assert taken.json()["error"]["code"] == "theme_taken"
    # Thresholds out of range are refused, nothing written.
    for body in ({"thresholds": [{"submitters": 1, "window_days": 7}], "similarity": 0.3},
                 {"thresholds": [{"submitters": 5, "window_days": 400}], "similarity": 0.3},
                 {"thresholds": [], "similarity": 0.3},
                 {"thresholds": [{"submitters": 5, "window_days": 7}], "similarity": 1.5}):  # fmt: skip
        r = await routing_client.put("/v1/hot-issues/policy", headers=org.auth("admin"), json=body)
        assert r.status_code == 422, body
    policy = await ok(await routing_client.get("/v1/hot-issues/policy", headers=h))
    assert policy["thresholds"] == [{"submitters": 5, "window_days": 7}]
    # A stricter policy: three submitters in two days.
    await ok(await routing_client.put("/v1/hot-issues/policy", headers=org.auth("admin"),
                                      json={"thresholds": [{"submitters": 3, "window_days": 2}],
                                            "similarity": 0.3}))  # fmt: skip
    await bus_requests(routing_sessionmaker, 1, start=2)
    async with routing_sessionmaker() as session:
        refreshed = await session.get(HotIssue, bus.id)
        assert refreshed is not None
        assert refreshed.state == "handling"  # its proactive case is open
        count = await session.scalar(select(func.count()).select_from(HotIssue))
        assert count == 3
    detail = await ok(await routing_client.get(f"/v1/hot-issues/{bus.id}", headers=h))
    assert detail["alerts"] == ["3/2d"]
    # Departments do not read the radar.
    denied = await routing_client.get("/v1/hot-issues", headers=org.auth("jt_liaison"))
    assert denied.status_code == 403
