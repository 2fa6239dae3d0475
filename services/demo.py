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
* online: 1,258 items handled, all closed; 20 investment projects filed on the spot;
* the agency service (帮办代办) of investment projects: 19 provincial and city key projects; from
  January to September 16 projects started, 31 continuing and 9 completed; the 邯郸制药三期
  project's land certificate through 自然资源和规划 and 发改; 20 filings done on the spot; steps
  promised in about half their legal limit (审批总时间缩短一半).

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
# 帮办代办: the article's named projects at the stage it reports, then numbered ones.
STARTED_NAMES = ["仟林物流园项目"]
CONTINUING_NAMES = ["美的商业综合体项目", "华耀城项目", "邯郸先进中药制造研究中心项目",
                    "中欧班列国际物流配送基地项目"]  # fmt: skip
COMPLETED_NAMES = ["浙江商贸城项目"]
INDUSTRIES = ["现代物流", "商贸服务", "装备制造", "生物医药", "新材料", "文化旅游", "食品加工",
              "电子信息"]  # fmt: skip
PROJECT_AREAS = ["HS-YQ", "HS-GY", "HS-GM", "HS-MD", "HS-BZZ", "HS-HSZ"]
# The utilities and site works the center runs errands for (供电供水、管网铺设、道路整修、环评).
UTILITY_STEPS = ["power", "water", "pipe-network", "road", "eia"]


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


@dataclass
class ProjectPlanned:
    """One investment project: registered at ``taken_on`` with its earlier stages dated, moved on
    through ``moves`` (stage, date), with the agency steps chosen for it."""

    name: str
    enterprise: str
    investment: int  # 万元
    level: str
    area: str
    industry: str
    taken_on: str
    dates: dict[str, str] = field(default_factory=dict)
    moves: list[tuple[str, str]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, str] = field(default_factory=dict)  # procedure code → document handed over
    project_id: str = ""
    stage: str = ""
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _season(today: date) -> tuple[date, date]:
    """1至9月份 of the current year, up to today while September is not over."""
    return date(today.year, 1, 1), min(date(today.year, 9, 30), today)


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

    # -------------------------------------------------------------------------- 帮办代办

    def plan_projects(self, legal: dict[str, int], today: date) -> list[ProjectPlanned]:
        """The article's projects: 19 provincial and city key projects (邯郸制药三期 among them);
        16 started, 31 continuing and 9 completed from January to September; 20 filings done on
        the spot. Each project reaches its season stage through one dated move in the season,
        its earlier stages dated the years before, so it counts once (a project that reached
        续建 in the season started the year before: it is not also one of the season's 开工)."""
        start, end = _season(today)
        span = (end - start).days + 1
        year = today.year

        def in_season(i: int) -> str:
            return (start + timedelta(days=(i * 11) % span)).isoformat()

        def before(years: int, i: int) -> str:
            return date(year - years, 1 + i % 12, 1 + i % 28).isoformat()

        def half(code: str) -> int:  # the promise: half the legal limit, rounded up
            return -(-legal[code] // 2)

        def utilities(k: int) -> list[dict[str, Any]]:
            codes = [
                UTILITY_STEPS[k % len(UTILITY_STEPS)],
                UTILITY_STEPS[(k + 2) % len(UTILITY_STEPS)],
            ]
            return [{"procedure_code": c, "limit_days": half(c), "instructions": "承诺时限压缩一半,全程帮办代办"}
                    for c in codes]  # fmt: skip

        projects: list[ProjectPlanned] = []
        key = itertools.count()

        def add(name: str, stage_from: str, is_key: bool, i: int, **kw: Any) -> ProjectPlanned:
            industry = INDUSTRIES[i % len(INDUSTRIES)]
            k = next(key) if is_key else -1
            level = (
                ("provincial" if k % 3 == 0 else "city")
                if is_key
                else ("district" if i % 2 else "general")
            )
            project = ProjectPlanned(
                name=name, enterprise=f"邯山{industry}发展有限公司{i + 1}号", investment=5000 + 700 * i,
                level=level, area=PROJECT_AREAS[i % len(PROJECT_AREAS)], industry=industry,
                taken_on=stage_from, steps=utilities(k) if is_key else [], **kw,
            )  # fmt: skip
            projects.append(project)
            return project

        n = itertools.count()
        # 16 started in the season (4 of them key projects), signed the year before.
        for i in range(16):
            name = (
                STARTED_NAMES[i]
                if i < len(STARTED_NAMES)
                else f"{INDUSTRIES[i % 8]}产业园项目{i + 1}号"
            )
            add(name, "signed", i < 4, next(n), dates={"signed": before(1, i)},
                moves=[("started", in_season(i))])  # fmt: skip
        # 31 continuing in the season (10 key), started the year before.
        for i in range(31):
            name = (
                CONTINUING_NAMES[i]
                if i < len(CONTINUING_NAMES)
                else f"{INDUSTRIES[i % 8]}续建项目{i + 1}号"
            )
            add(name, "started", i < 10, next(n), dates={"signed": before(2, i), "started": before(1, i)},
                moves=[("continuing", in_season(i + 16))])  # fmt: skip
        # 9 completed in the season (4 key), continuing since the year before.
        for i in range(9):
            name = (
                COMPLETED_NAMES[i]
                if i < len(COMPLETED_NAMES)
                else f"{INDUSTRIES[i % 8]}建成项目{i + 1}号"
            )
            add(name, "continuing", i < 4, next(n),
                dates={"signed": before(3, i), "started": before(2, i), "continuing": before(1, i)},
                moves=[("completed", in_season(i + 47))])  # fmt: skip
        # 邯郸制药三期 (the 19th key project): signed; after the land's 招拍挂 on 10月19日 its land
        # certificate went to 国土(自然资源)、规划 and 发改 for the agency.
        pharma = add("邯郸制药三期项目", "signed", True, next(n), dates={"signed": in_season(3)})
        pharma.enterprise, pharma.investment, pharma.industry = (
            "邯郸制药股份有限公司",
            35000,
            "生物医药",
        )
        pharma.steps = [
            {"procedure_code": code, "limit_days": half(code), "instructions": text}
            for code, text in (
                ("property-certificate", "土地招拍挂已于10月19日摘牌,协调办理《土地使用证》(不动产权证)"),
                ("land-use-planning", "配合不动产权证办理建设用地规划许可"),
                ("filing", "三期项目备案信息变更,配合用地手续"),
            )
        ]  # fmt: skip
        pharma.records = {
            "property-certificate": "企业提交土地招拍挂成交确认书及出让合同,代办员转交国土、规划、发改帮办代办"
        }
        # 邯钢汇达汽车产业服务基地: signed not long ago (前不久), 9亿元.
        add("邯钢汇达汽车产业服务基地项目", "planned", False, next(n),
            moves=[("signed", max(today - timedelta(days=30), date(year, 1, 1)).isoformat())])  # fmt: skip
        projects[-1].enterprise, projects[-1].investment = "邯郸汇达汽运有限公司", 90000
        # 辰翔艾草系列产品综合开发项目等20个项目当场办结投资项目备案.
        for i in range(20):
            name = (
                "辰翔艾草系列产品综合开发项目"
                if i == 0
                else f"{INDUSTRIES[i % 8]}投资项目{i + 1}号"
            )
            project = add(name, "planned", False, next(n))
            project.steps = [{"procedure_code": "filing", "on_spot": True,
                              "result": "项目单位现场提交备案材料,当场办结投资项目备案"}]  # fmt: skip
        return projects

    async def serve_project(self, project: ProjectPlanned, n: int) -> None:
        """Register the project, run its agency plan through the departments, then move it on."""
        operator = self.auth("demo_operator")
        body: dict[str, Any] = {
            "name": project.name, "enterprise_name": project.enterprise, "uscc": _uscc(800000 + n),
            "investment": project.investment, "industry": project.industry,
            "area_unit_code": project.area, "level": project.level, "stage": project.taken_on,
            "agent": "demo_operator", "contact": {"name": "项目联系人", "phone": _phone(800000 + n)},
            "stage_dates": {stage: {"actual": on} for stage, on in project.dates.items()},
        }  # fmt: skip
        created = await self.call(self.routing, "POST", "/v1/projects", headers=operator, json=body)
        project.project_id, project.stage = created["id"], created["stage"]
        url = f"/v1/projects/{project.project_id}"
        if project.steps:
            timeline = await self.call(self.routing, "POST", f"{url}/steps", json={"steps": project.steps},
                                       headers={**operator, "Idempotency-Key": f"demo-plan-{project.project_id}"})  # fmt: skip
            while open_steps := [s for s in timeline if s["status"] == "in_progress"]:
                await self.each(open_steps, lambda step: self.work_step(project, step))
                timeline = await self.call(self.routing, "GET", f"{url}/steps", headers=operator)
            project.timeline = timeline
        for stage, on in project.moves:
            moved = await self.call(self.routing, "POST", f"{url}/stage", headers=operator,
                                    json={"stage": stage, "on": on})  # fmt: skip
            project.stage = moved["stage"]

    async def work_step(self, project: ProjectPlanned, step: dict[str, Any]) -> None:
        """The department signs and completes the step's card, the center accepts it."""
        card = f"/v1/cards/{step['card']['id']}"
        unit_headers = {"X-API-Key": await self.unit_key(step["unit_code"])}
        await self.call(self.routing, "POST", f"{card}/sign", headers=unit_headers)
        record = project.records.get(step["procedure_code"])
        if record:
            await self.call(self.routing, "POST", f"/v1/projects/{project.project_id}/steps/{step['id']}/records",
                            headers=self.auth("demo_operator"), json={"kind": "document", "text": record})  # fmt: skip
        await self.call(self.routing, "POST", f"{card}/complete", headers=unit_headers,
                        json={"result": f"{step['name']}已办结,材料已交企业"})  # fmt: skip
        await self.call(self.routing, "POST", f"{card}/review", headers=self.auth("demo_dispatcher"),
                        json={"accept": True})  # fmt: skip

    async def project_statistics(self, start: date | None = None, end: date | None = None) -> Any:
        query = "&".join(f"{k}={v.isoformat()}" for k, v in (("start", start), ("end", end)) if v)
        figures = await self.call(self.scoring, "GET", f"/v1/statistics?{query}",
                                  headers=self.auth("demo_supervisor"))  # fmt: skip
        return figures["projects"]

    async def agency(self) -> tuple[list[ProjectPlanned], dict[str, int], Any]:
        """帮办代办 through routing's project APIs: the projects, the legal limits they were
        planned against, and scoring's project figures before them."""
        before = await self.project_statistics()
        catalogue = await self.call(
            self.routing, "GET", "/v1/procedures", headers=self.auth("demo_operator")
        )
        legal = {p["code"]: p["time_limit_days"] for p in catalogue}
        projects = self.plan_projects(legal, date.today())
        units = {p["unit_code"] for p in catalogue if p["unit_code"]}
        await self.each(sorted(units), self.unit_key)  # one key per department, made up front
        await asyncio.gather(*(self.serve_project(p, n) for n, p in enumerate(projects)))
        done = sum(s["status"] == "done" for p in projects for s in p.timeline)
        print(f"· {len(projects)} projects and {done} agency steps done", flush=True)  # noqa: T201
        return projects, legal, before

    async def project_figures(
        self, projects: list[ProjectPlanned], legal: dict[str, int], before: Any
    ) -> dict[str, Any]:
        """The figures as scoring's statistics compute them, once it has every project's stage
        and every step routing reported done."""
        today = date.today()
        steps = [s for p in projects for s in p.timeline if s["status"] == "done"]
        stages = Counter(p.stage for p in projects)
        deadline = time.monotonic() + 300
        while True:
            to_date = await self.project_statistics()
            by_stage, done = to_date["served"]["by_stage"], to_date["steps"]["done"]
            if done >= before["steps"]["done"] + len(steps) and all(
                by_stage.get(stage, 0) >= before["served"]["by_stage"].get(stage, 0) + count
                for stage, count in stages.items()
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("project facts did not reach scoring in time")
            await asyncio.sleep(1)
        start, end = _season(today)
        season = await self.project_statistics(start, end)
        # 审批总时间缩短一半: what the departments promised against the catalogue's legal limits.
        dispatched = [s for s in steps if not s["on_spot"]]
        promised = sum(s["limit_days"] for s in dispatched)
        allowed = sum(legal[s["procedure_code"]] for s in dispatched)
        levels = to_date["served"]["by_level"]
        return {
            "key_projects": levels.get("provincial", 0) + levels.get("city", 0),
            "started": season["started"],
            "continuing": season["continuing"],
            "completed": season["completed"],
            "done_on_spot": to_date["steps"]["done_on_spot"],
            "steps_done": to_date["steps"]["done"],
            "time_ratio": to_date["steps"]["time_ratio"],
            "promised_vs_legal": {
                "promised_days": promised,
                "legal_days": allowed,
                "ratio": round(promised / allowed, 4) if allowed else None,
            },
            "season": {"start": start.isoformat(), "end": end.isoformat()},
            "statistics": {"season": season, "to_date": to_date},
        }

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        await self.setup()
        print("· org, staff and keys ready", flush=True)  # noqa: T201
        # The projects go through other endpoints than the requests: both at once; their figures
        # are read once the season is over (polling meanwhile would only slow it down).
        (statistics, summary, outcome), agency = await asyncio.gather(self.season(), self.agency())
        projects = await self.project_figures(*agency)
        print(  # noqa: T201
            f"· done in {time.monotonic() - started:.0f}s; requests by channel: {dict(outcome)}",
            flush=True,
        )
        print(  # noqa: T201
            f"· 帮办代办: 省市重点项目{projects['key_projects']}个;"
            f"{projects['season']['start']}至{projects['season']['end']} 开工{projects['started']}个、"
            f"续建{projects['continuing']}个、建成投用{projects['completed']}个;"
            f"当场办结投资项目备案{projects['done_on_spot']}件;代办事项办结{projects['steps_done']}件,"
            f"承诺时限/法定时限 {projects['promised_vs_legal']['ratio']},"
            f"用时/时限 {projects['time_ratio']}",
            flush=True,
        )
        return {"statistics": statistics, "cppcc_summary": summary, "projects": projects}

    async def season(self) -> tuple[Any, Any, Counter[str]]:
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
        return statistics, summary, Counter(p.channel for p in plans)


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
