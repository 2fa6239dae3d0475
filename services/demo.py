"""``python -m services.demo``: play the seed article's season through a running stack.

Everything goes through the real public and staff APIs and the workers — submissions on every
channel, the CPPCC "165" express with its stations, members and visits, verification, dispatch by
the district's dispatch catalogue, departments signing and completing through their API keys,
the center's review, feedback and ratings — so that the statistics come out as the article reports
them (Hanshan district, Handan):

* three channels together: 700 enterprises and 2,226 merchants visited, 161 issues collected,
  150 resolved, 11 in progress, satisfaction above 96 %;
* the 165 express: 31 enterprises visited, 56 issues (land, funds, transport, environment, power),
  52 answered and closed;
* online: 1,258 items handled, all closed; 20 investment projects filed on the spot.

Nothing writes totals: the figures are what the statistics endpoints compute from the cases.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.identifiers import uscc_check_char

SECTORS = ["经济界", "工商联界", "农业界", "科学技术界", "教育医卫界", "社会福利界"]
ISSUE_TOPICS = ["land", "funds", "transport", "environment", "electricity"]
FALLBACK_UNIT = {
    "land": "DEPT-GH", "funds": "DEPT-FG", "transport": "DEPT-JT", "environment": "DEPT-HB",
    "electricity": "DEPT-GD", "water": "DEPT-GS", "permit": "DEPT-SP", "legal": "DEPT-SF",
    "market_order": "DEPT-SJ", "other": "DEPT-FG",
}  # fmt: skip
TEXTS = {
    "land": (
        "项目用地手续办理缓慢",
        "企业三期项目土地招拍挂后,《土地使用证》迟迟未能办理,影响开工。",
    ),
    "funds": ("货款被长期拖欠", "医药公司反映药品款被拖欠一年多,资金周转困难,请协调明确还款时限。"),
    "transport": (
        "园区公交班次少",
        "园区企业职工通勤不便,希望增加公交班次、延伸公交线路,提高交通承载力。",
    ),
    "environment": ("商场周边环境杂乱", "商场周边占道经营、垃圾堆放,环境杂乱,影响经营秩序。"),
    "electricity": (
        "厂区用电容量不足",
        "新上生产线需增加用电容量,变压器增容申请办理较慢,请协调供电公司。",
    ),
}
CONSULT_TEXTS = [
    ("企业名称自主申报咨询", "想通过邯山智慧大厅进行企业名称自主申报,需要准备哪些材料?"),
    ("营业执照变更咨询", "公司经营范围需要变更,网上如何办理营业执照变更登记?"),
    ("惠企政策咨询", "小微企业普惠性减税降费政策如何申请享受?"),
    ("社保缴费咨询", "新招员工社保登记可以在网上办理吗?"),
]


@dataclass
class Planned:
    channel: str
    type: str
    topic: str
    resolve: bool
    rating: str = "satisfied"
    body: dict[str, Any] = field(default_factory=dict)
    tracking_no: str = ""
    secret: str = ""
    case_id: str = ""


def _uscc(n: int) -> str:
    prefix = f"91130404MA{n:07d}"
    return prefix + uscc_check_char(prefix)


def _phone(n: int) -> str:
    return f"13{(n % 9) + 1}{n:08d}"[:11]


class Demo:
    def __init__(self, credentials: dict[str, Any], *, concurrency: int, seed: int) -> None:
        self.credentials = credentials
        self.random = random.Random(seed)
        self.limit = asyncio.Semaphore(concurrency)
        timeout = httpx.Timeout(60.0, connect=5.0)
        self.intake = httpx.AsyncClient(base_url=credentials["intake_url"], timeout=timeout)
        self.routing = httpx.AsyncClient(base_url=credentials["routing_url"], timeout=timeout)
        self.scoring = httpx.AsyncClient(base_url=credentials["scoring_url"], timeout=timeout)
        self.channel_key = credentials["api_key"]
        self.staff: dict[str, str] = {}
        self.unit_keys: dict[str, str] = {}
        self.counter = itertools.count(1)

    async def close(self) -> None:
        for client in (self.intake, self.routing, self.scoring):
            await client.aclose()

    # -------------------------------------------------------------------------- plumbing

    async def call(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        expect: Iterable[int] = (200, 201),
        **kw: Any,
    ) -> Any:
        async with self.limit:
            for attempt in range(8):
                response = await client.request(method, url, **kw)
                if response.status_code in (502, 503, 504) or (
                    response.status_code == 500 and attempt < 2
                ):
                    await asyncio.sleep(0.5 * (attempt + 1))  # a busy embedded database: retry
                    continue
                break
        if response.status_code not in tuple(expect):
            raise RuntimeError(f"{method} {url} → {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff[who]}"}

    async def each(
        self, items: Iterable[Any], action: Callable[[Any], Awaitable[Any]]
    ) -> list[Any]:
        return list(await asyncio.gather(*(action(item) for item in items)))

    # -------------------------------------------------------------------------- set-up

    async def setup(self) -> None:
        admin = self.credentials.get("admin")
        if not admin:
            raise SystemExit(
                "credentials.json has no admin login: run the demo on a fresh `make run` stack"
            )
        token = await self.call(self.routing, "POST", "/v1/auth/token", json=admin)
        self.staff["admin"] = token["access_token"]
        password = f"demo-{self.random.getrandbits(64):x}"
        for username, role, name in (
            ("demo_operator", "operator", "受理员小王"),
            ("demo_dispatcher", "dispatcher", "派单员小李"),
            ("demo_supervisor", "supervisor", "督办员老赵"),
        ):
            await self.call(self.routing, "POST", "/v1/org/staff", headers=self.auth("admin"), expect=(201, 409),
                            json={"username": username, "display_name": name, "role": role, "unit_code": "HS",
                                  "password": password})  # fmt: skip
            token = await self.call(
                self.routing,
                "POST",
                "/v1/auth/token",
                json={"username": username, "password": password},
            )
            self.staff[username] = token["access_token"]

    async def unit_key(self, code: str) -> str:
        if code not in self.unit_keys:
            created = await self.call(self.routing, "POST", f"/v1/org/units/{code}/api-keys",
                                      headers=self.auth("admin"), json={"name": "demo system"})  # fmt: skip
            self.unit_keys[code] = created["api_key"]
        return self.unit_keys[code]

    # -------------------------------------------------------------------------- the season

    def plan_online(self) -> list[Planned]:
        plans = []
        online = ["smart_hall"] * 600 + ["app"] * 400 + ["website"] * 238
        for channel in online:
            title, text = self.random.choice(CONSULT_TEXTS)
            plans.append(Planned(channel, "consult", "permit", resolve=True))
            plans[-1].body = {"title": title, "description": text}
        for i in range(20):
            topic = ISSUE_TOPICS[i % len(ISSUE_TOPICS)]
            plans.append(
                Planned(
                    "app", "suggestion", topic, resolve=True, rating="satisfied" if i else "basic"
                )
            )
        return plans

    def plan_visits(self) -> list[Planned]:
        plans = []
        for i in range(85):
            topic = ISSUE_TOPICS[i % len(ISSUE_TOPICS)]
            rating = "unsatisfied" if i in (3, 40) else "satisfied"
            plans.append(Planned("visit", "help", topic, resolve=i >= 7, rating=rating))
        for _ in range(20):  # investment projects filed on the spot (当场办结投资项目备案)
            plans.append(Planned("visit", "consult", "permit", resolve=True))
            plans[-1].body = {
                "title": "投资项目备案",
                "description": "项目单位现场提交投资项目备案材料,当场办结。",
            }
        return plans

    def request_body(self, plan: Planned, n: int) -> dict[str, Any]:
        title, text = TEXTS.get(plan.topic, ("企业诉求", "企业反映经营中遇到的困难,请协调解决。"))
        body = {
            "channel": plan.channel,
            "type": plan.type,
            "topic": plan.topic,
            "title": f"{title}(第{n}号)",
            "description": f"{text} 编号{n},联系人电话见登记信息。",
            "submitter": {"kind": "enterprise", "name": "企业联系人", "phone": _phone(n), "uscc": _uscc(n),
                          "enterprise_name": f"邯山示范企业{n}号"},
            "location": {"address": "邯郸市邯山区", "area_code": "HS-GM"},
        }  # fmt: skip
        if plan.body:
            body["title"] = f"{plan.body['title']}(第{n}号)"
            body["description"] = f"{plan.body['description']} 编号{n}。"
        if plan.channel == "hotline":
            body["recorded_by"] = "话务员"
        return body

    async def submit(self, plan: Planned) -> None:
        n = next(self.counter)
        body = self.request_body(plan, n)
        receipt = await self.call(self.intake, "POST", "/v1/requests", json=body,
                                  headers={"X-API-Key": self.channel_key, "Idempotency-Key": f"demo-{n}"})  # fmt: skip
        plan.tracking_no, plan.secret = receipt["tracking_no"], receipt["tracking_secret"]

    async def cppcc(self) -> list[Planned]:
        """Six liaison stations, 242 members, 31 enterprise visits with 56 issues."""
        headers = {"X-API-Key": self.channel_key}
        stations = []
        for sector in SECTORS:
            station = await self.call(self.intake, "POST", "/v1/cppcc/stations", headers=headers, expect=(201, 409),
                                      json={"name": f"{sector}临时党支部联络站", "sector": sector})  # fmt: skip
            stations.append(station)
        stations = await self.call(self.intake, "GET", "/v1/cppcc/stations", headers=headers)
        members = [
            {
                "name": f"委员{i:03d}",
                "phone": _phone(900000 + i),
                "station_id": stations[i % 6]["id"],
            }
            for i in range(242)
        ]
        await self.call(
            self.intake,
            "POST",
            "/v1/cppcc/members/import",
            headers=headers,
            json={"members": members},
        )
        listing = await self.call(
            self.intake, "GET", "/v1/cppcc/members?limit=500", headers=headers
        )
        member_ids = [m["id"] for m in listing["items"]]
        plans: list[Planned] = []
        issue_no = 0
        for v in range(31):
            count = 2 if v < 25 else 1
            issues = []
            for _ in range(count):
                topic = ISSUE_TOPICS[issue_no % len(ISSUE_TOPICS)]
                title, text = TEXTS[topic]
                n = next(self.counter)
                issues.append({"type": "suggestion", "topic": topic, "title": f"{title}(165-{n})",
                               "description": f"{text} 政协委员走访收集,编号{n}。",
                               "contact": {"name": "企业负责人", "phone": _phone(n)}})  # fmt: skip
                plans.append(Planned("cppcc_165", "suggestion", topic, resolve=issue_no >= 4))
                issue_no += 1
            visit = await self.call(self.intake, "POST", "/v1/cppcc/visits", headers=headers, json={
                "member_id": member_ids[v * 7 % len(member_ids)], "target_kind": "enterprise",
                "target_name": f"邯山165走访企业{v + 1}号", "uscc": _uscc(500000 + v), "area_code": "HS-YQ",
                "visited_on": (date.today() - timedelta(days=60 - v)).isoformat(), "findings": "走访收集企业诉求",
                "issues": issues})  # fmt: skip
            for plan, receipt in zip(plans[-count:], visit["receipts"], strict=True):
                plan.tracking_no, plan.secret = receipt["tracking_no"], receipt["tracking_secret"]
        return plans

    async def wait_for_cases(self, plans: list[Planned]) -> None:
        """Requests reach routing through the queue: wait until every one is a case."""
        pending = {plan.tracking_no: plan for plan in plans}
        deadline = time.monotonic() + 600
        while pending and time.monotonic() < deadline:
            cursor = ""
            while True:
                page = await self.call(self.routing, "GET", f"/v1/cases?status=pending_verification&limit=200{cursor}",
                                       headers=self.auth("demo_operator"))  # fmt: skip
                for case in page["items"]:
                    plan = pending.pop(case["tracking_no"], None)
                    if plan is not None:
                        plan.case_id = case["id"]
                if page["next_cursor"] is None:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            if pending:
                await asyncio.sleep(1)
        if pending:
            raise RuntimeError(f"{len(pending)} requests never reached routing")

    async def handle(self, plan: Planned) -> None:
        case = f"/v1/cases/{plan.case_id}"
        if plan.type == "consult":
            await self.call(self.routing, "POST", f"{case}/verify", headers=self.auth("demo_operator"),
                            json={"decision": "answer", "answer": "已按政策和办事指南当场答复并办结。"})  # fmt: skip
            return
        await self.call(self.routing, "POST", f"{case}/verify", headers=self.auth("demo_operator"),
                        json={"decision": "accept", "classification": "general"})  # fmt: skip
        detail = await self.call(self.routing, "GET", case, headers=self.auth("demo_dispatcher"))
        suggestions = [
            s["unit_code"]
            for s in detail.get("suggestions", [])
            if s["unit_code"].startswith("DEPT-")
        ]
        unit = suggestions[0] if suggestions else FALLBACK_UNIT[plan.topic]
        dispatched = await self.call(self.routing, "POST", f"{case}/dispatch", headers=self.auth("demo_dispatcher"),
                                     json={"units": [{"unit_code": unit}], "instructions": "请按时办结并反馈企业"})  # fmt: skip
        card = dispatched["cards"][-1]["id"]
        unit_headers = {"X-API-Key": await self.unit_key(unit)}
        await self.call(self.routing, "POST", f"/v1/cards/{card}/sign", headers=unit_headers)
        await self.call(self.routing, "POST", f"/v1/cards/{card}/contact", headers=unit_headers,
                        json={"text": "已与企业联系,了解具体情况"})  # fmt: skip
        if not plan.resolve:
            return
        await self.call(self.routing, "POST", f"/v1/cards/{card}/complete", headers=unit_headers,
                        json={"result": "已协调解决并答复企业"})  # fmt: skip
        await self.call(self.routing, "POST", f"/v1/cards/{card}/review", headers=self.auth("demo_dispatcher"),
                        json={"accept": True})  # fmt: skip

    async def rate(self, plan: Planned) -> None:
        if plan.type == "consult" or not plan.resolve:
            return
        body: dict[str, Any] = {"satisfaction": plan.rating, "resolved": plan.rating != "unsatisfied",
                                "score": {"satisfied": 98, "basic": 85, "unsatisfied": 60}[plan.rating]}  # fmt: skip
        if plan.channel in ("app", "smart_hall", "website"):
            await self.until_scored(lambda: self.call(self.intake, "POST", f"/v1/requests/{plan.tracking_no}/rating",
                                                      headers={"X-Tracking-Secret": plan.secret}, json=body))  # fmt: skip
            return
        method = "symposium" if plan.channel == "cppcc_165" else "visit"
        feedback: dict[str, Any] = {"method": method, "notes": "主动走访反馈办理结果"}
        if method == "symposium":
            feedback |= {
                "attendees": ["政协委员", "企业负责人", "承办单位"],
                "minutes": "集中座谈反馈办理结果并现场测评",
            }
        await self.until_scored(lambda: self.call(self.scoring, "POST", f"/v1/cases/{plan.case_id}/feedback",
                                                  headers=self.auth("demo_operator"), json=feedback))  # fmt: skip
        await self.call(self.scoring, "POST", f"/v1/cases/{plan.case_id}/ratings", headers=self.auth("demo_operator"),
                        json={**body, "method": method})  # fmt: skip

    async def until_scored(self, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Case facts reach scoring through the queue: retry while it has not seen completion."""
        for _ in range(240):
            try:
                return await attempt()
            except RuntimeError as exc:
                if "case_not_completed" not in str(exc) and "case_not_found" not in str(exc):
                    raise
            await asyncio.sleep(0.5)
        raise RuntimeError("completed cases did not reach scoring in time")

    async def center_visits(self) -> None:
        """The three tiers' own visits: 669 more enterprises and 2,226 merchants (走访)."""
        today = date.today()
        visits = [{"target_kind": "enterprise", "target_name": f"走访企业{i}号", "uscc": _uscc(700000 + i),
                   "visited_on": (today - timedelta(days=i % 180)).isoformat()} for i in range(669)]  # fmt: skip
        visits += [{"target_kind": "merchant", "target_name": f"走访商户{i}号",
                    "visited_on": (today - timedelta(days=i % 180)).isoformat()} for i in range(2226)]  # fmt: skip
        for start in range(0, len(visits), 1000):
            await self.call(self.scoring, "POST", "/v1/visits", headers=self.auth("demo_operator"),
                            json={"visits": visits[start : start + 1000]})  # fmt: skip

    async def run(self) -> dict[str, Any]:
        time.monotonic()
        await self.setup()
        print("· org, staff and keys ready", flush=True)  # noqa: T201
        express = await self.cppcc()
        plans = self.plan_online() + self.plan_visits()
        await self.each(plans, self.submit)
        plans += express
        print(f"· {len(plans)} requests submitted", flush=True)  # noqa: T201
        await self.wait_for_cases(plans)
        await self.each(plans, self.handle)
        print("· verified, dispatched, signed, completed and reviewed", flush=True)  # noqa: T201
        await self.each(plans, self.rate)
        await self.center_visits()
        print("· feedback, ratings and visits recorded", flush=True)  # noqa: T201
        statistics = await self.call(self.scoring, "GET", "/v1/public/statistics")
        summary = await self.call(
            self.intake, "GET", "/v1/cppcc/summary", headers={"X-API-Key": self.channel_key}
        )
        Counter(p.channel for p in plans)
        return {"statistics": statistics, "cppcc_summary": summary}


async def run_demo(
    credentials: dict[str, Any], *, concurrency: int = 8, seed: int = 165
) -> dict[str, Any]:
    demo = Demo(credentials, concurrency=concurrency, seed=seed)
    try:
        return await demo.run()
    finally:
        await demo.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.demo", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("--credentials", type=Path, default=Path("var/credentials.json"))
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    credentials = json.loads(args.credentials.read_text())
    result = asyncio.run(run_demo(credentials, concurrency=args.concurrency))
    print(json.dumps(result, ensure_ascii=False, indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
