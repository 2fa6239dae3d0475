"""Radar (issue 19): what placing a new request on the hot-issue radar costs, with 2,000 and
200,000 requests of history.

Each size is a fresh load with COPY (valid foreign keys, re-added after the load, which checks
every row) into the seed district's org tree (``routing_service/seed``, imported with the
service's own loader): N cases with their radar rows (``hot_issue`` clusters, their
``hot_issue_member`` rows and the alert of every hot one) over the last 90 days, in six topics
and the 19 streets (each case's area a street's or one of its communities' code), worded as
enterprises word the same problem in different ways.

The policy's window (7 days by default) holds the same clusters at every size: two to four per
topic × street, one to nine requests each (about 1,100 requests, the same rows generated from
the same seed). The rest of N is the older history, in clusters of 1–40 requests whose last
request is older than the window. So what grows from 2,000 to 200,000 is the history, and the
figures say whether placing a request follows the clusters in the window or the history.

Timed in-process against the bench database, as the routing worker does it: for each
``request.submitted``, ``case_service.create_from_request(session, event)`` + commit (which
writes the case and its ``radar.place`` event), then the ``radar.place`` job for it:
``radar_service.place(session, case_id)`` + commit, its own transaction (the queue hop and the
inbox between the two are not included). ~300 new requests per size (topics, streets and
wordings of the window's clusters, so most join one and some start their own). Each alternates
with one whose ``radar_service.observe`` is bypassed (a no-op in this process only) and that
runs no ``radar.place`` job: the radar's share is (with − without), at p50 and p95.
``observe`` itself is also timed around the call, with the statements it issues and their time.
``EXPLAIN (ANALYZE, BUFFERS)`` of the candidate query (built as ``observe`` builds it) and of the
distinct-submitter count of the largest cluster in the window.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from bench import env
from bench.context import Context, connect
from bench.loader import bulk_mode, copy, vacuum_analyze
from bench.results import Figure, Target
from bench.stats import summarize

SECTION = "radar"
SIZES = (2_000, 200_000)  # quick and full: the 200k load takes well under a minute here
CLI_DEFAULT_SIZES = ([100_000], [100_000, 1_000_000])  # what bench.cli passes without --sizes
SUBMISSIONS = 300  # per mode (with and without the radar) and size
WARMUP = 20  # per mode, outside the figures
HISTORY_DAYS = 90
GROWTH_LIMIT = 1.5
TABLES = ["case", "hot_issue", "hot_issue_member", "hot_issue_alert"]
RECENT_SEED = 19  # the window's clusters and the measured submissions: the same at every size
RECENT_SIZES = [1, 1, 1, 2, 2, 3, 4, 6, 9]  # requests per cluster in the window
OLDER_SIZES = [1, 1, 1, 2, 2, 3, 4, 5, 8, 12, 20, 40]  # requests per older cluster
REPEAT_SHARE = 0.1  # of a cluster's requests come from a submitter already in it

# Per topic, three problems, each in three wordings (title, description) as enterprises write.
PROBLEMS: dict[str, list[list[tuple[str, str]]]] = {
    "transport": [
        [("园区公交班次太少", "员工上下班等公交要一个小时,希望增加公交班次。"),
         ("希望增加公交班次", "我们公司员工上下班坐公交很不方便,公交班次太少。"),
         ("公交班次少等车久", "每天下班在公司门口等公交车要四十分钟,希望增加班次。")],
        [("企业门口道路破损", "厂区门口的道路坑洼严重,货车进出颠簸,希望尽快修补路面。"),
         ("路面坑洼急需修补", "公司门前道路破损多处坑洼,下雨积水,货车进出困难。"),
         ("门前道路坑洼不平", "企业门口的道路坑洼不平已有半年,请安排修补路面。")],
        [("路口红绿灯时长不合理", "园区出口路口红灯时间太长,早高峰车辆排队拥堵。"),
         ("路口信号灯配时不合理", "信号灯配时不合理,绿灯时间太短,路口经常拥堵。"),
         ("请调整路口红绿灯", "早晚高峰路口红绿灯等待时间过长,请调整信号灯时长。")],
    ],
    "environment": [
        [("附近工厂夜间噪音扰民", "隔壁工厂夜里机器噪音很大,员工宿舍晚上无法休息。"),
         ("夜间施工噪音太大", "附近工地夜间施工噪音扰民,晚上十二点还在作业。"),
         ("噪音扰民影响休息", "周边企业设备噪音太大,夜里影响职工休息,请查处。")],
        [("河道有异味", "厂区旁边的河道发黑发臭,夏天异味很大,希望治理。"),
         ("河水发黑发臭", "园区附近河水发黑发臭,蚊虫多,请尽快治理河道。"),
         ("排水沟异味严重", "路边排水沟长期有臭味,河道污染,影响企业环境。")],
        [("道路扬尘严重", "渣土车经过道路扬尘严重,厂房里到处是灰,请洒水降尘。"),
         ("渣土车扬尘污染", "渣土车没有覆盖,沿路扬尘污染严重,影响车间生产。"),
         ("工地扬尘影响生产", "附近工地扬尘大,没有洒水降尘,影响我们的精密车间。")],
    ],
    "electricity": [
        [("频繁停电影响生产", "这个月已经停电五次,生产线频繁中断,损失很大。"),
         ("企业经常停电", "公司所在区域经常停电,每次停电设备都要重启,影响生产。"),
         ("停电频繁请排查线路", "厂区频繁停电,希望供电公司排查线路,减少停电。")],
        [("电压不稳烧坏设备", "厂区电压不稳定,已经烧坏两台设备,请供电公司检查。"),
         ("用电电压波动大", "车间电压波动大,设备经常报警停机,希望解决电压问题。"),
         ("电压低设备无法运行", "用电高峰时电压太低,大功率设备无法正常运行。")],
        [("增容申请办理慢", "企业申请用电增容两个月还没有批下来,影响新生产线投产。"),
         ("用电增容迟迟不批", "新厂房用电增容申请提交很久,一直没有答复。"),
         ("请加快办理电力增容", "扩产需要电力增容,申请材料已齐全,请加快办理。")],
    ],
    "water": [
        [("自来水水压不足", "厂区自来水水压太低,楼上车间经常没水,影响生产。"),
         ("水压低用水困难", "园区水压不足,用水高峰时二楼以上没有水。"),
         ("供水压力不够", "企业供水压力不够,生产用水经常中断,请供水公司解决。")],
        [("自来水浑浊发黄", "这几天自来水浑浊发黄,有铁锈味,不敢使用。"),
         ("水质发黄有异味", "公司的自来水水质发黄,有异味,员工饮水不放心。"),
         ("自来水有杂质", "自来水里有杂质和铁锈,水质不好,请检测水质。")],
        [("停水没有提前通知", "昨天突然停水一整天,没有提前通知,生产被迫停止。"),
         ("突然停水影响生产", "园区突然停水,供水公司没有通知,企业损失很大。"),
         ("计划停水请提前告知", "停水前请提前通知企业,我们好安排生产,这次突然停水。")],
    ],
    "permit": [
        [("营业执照办理太慢", "提交营业执照申请材料一周了还没有办下来,请加快。"),
         ("执照变更审批慢", "营业执照地址变更审批很慢,影响公司签合同。"),
         ("请加快营业执照审批", "新公司营业执照审批迟迟没有结果,影响开业。")],
        [("施工许可证迟迟不批", "厂房扩建的施工许可证申请两个月了,一直没有批复。"),
         ("施工许可审批时间长", "施工许可证审批时间太长,项目不能按期开工。"),
         ("请加快施工许可审批", "扩建项目材料已齐全,请加快施工许可证审批。")],
        [("办事要跑好几趟", "办一个证要跑好几个部门,材料重复提交,希望一窗办理。"),
         ("材料重复提交", "不同窗口要求重复提交同样的材料,来回跑了好几趟。"),
         ("希望一次办好", "办理审批要来回跑多次,希望能一窗受理一次办好。")],
    ],
    "land": [
        [("项目用地指标不足", "新项目落地缺少用地指标,已经等了半年,希望协调。"),
         ("用地指标迟迟不落实", "企业扩建需要的用地指标一直不落实,项目无法开工。"),
         ("请协调项目用地指标", "项目已签约但用地指标没有着落,请帮助协调。")],
        [("土地证办理困难", "厂房建成多年土地证一直办不下来,影响企业贷款。"),
         ("不动产证办不下来", "企业厂区的不动产权证办不下来,无法抵押融资。"),
         ("请帮助办理土地证", "历史遗留问题导致土地证无法办理,请帮助解决。")],
        [("厂房周边土地被占用", "企业厂房旁边的土地被他人违规占用堆放杂物。"),
         ("土地被违规占用", "园区规划的企业用地被违规占用,影响项目建设。"),
         ("请清理违规占地", "厂区旁边有人违规占地搭建棚子,请依法清理。")],
    ],
}  # fmt: skip
TOPICS = list(PROBLEMS)
COMPANIES = [
    f"邯郸{a}{b}有限公司" for a in "恒达华润泰兴" for b in ("机械", "食品", "物流", "电子", "化工")
]

CASE_COLUMNS = ["id", "request_id", "tracking_no", "channel", "type", "topic", "topic_suggested",
                "urgency", "title", "description", "area_code", "submitter", "submitter_kind",
                "enterprise_name", "anonymous", "confidential", "attachments", "status",
                "classification", "owner_unit_id", "received_at", "verify_due_at", "verified_at",
                "verified_by", "closed_at", "must_designate", "redo_count", "escalated",
                "revision", "history_seq", "created_at", "updated_at"]  # fmt: skip
CLUSTER_COLUMNS = ["id", "topic", "area_unit_id", "state", "title", "grams", "requests",
                   "submitters", "first_at", "last_at", "revision", "created_at",
                   "updated_at"]  # fmt: skip
MEMBER_COLUMNS = ["id", "hot_issue_id", "case_id", "submitter_key", "received_at", "similarity",
                  "joined_by"]  # fmt: skip
ALERT_COLUMNS = ["id", "hot_issue_id", "threshold", "submitters", "at"]


@dataclass(frozen=True)
class Street:
    id: uuid.UUID
    code: str
    place: str  # the street's short name, as a submitter writes it
    areas: tuple[str, ...]  # its code and its communities' codes


@dataclass(frozen=True)
class Org:
    root: uuid.UUID
    streets: list[Street]


async def seed_org() -> Org:
    """The seed district's org tree, through the service's own importer (idempotent)."""
    from sqlalchemy import select

    from routing_service.department.loader import import_document, parse_document, seed_document
    from routing_service.models import OrgUnit
    from routing_service.spec import spec
    from services.db import create_engine, service_sessionmaker

    engine = create_engine(env.SA_URL, schema="routing", pool_size=1)
    try:
        async with service_sessionmaker(spec, engine)() as session:
            await import_document(session, parse_document(seed_document(), "application/yaml"))
            await session.commit()
            units = (await session.scalars(select(OrgUnit))).all()
    finally:
        await engine.dispose()
    communities: dict[uuid.UUID, list[str]] = {}
    for unit in units:
        if unit.kind == "community_center" and unit.parent_id is not None:
            communities.setdefault(unit.parent_id, []).append(unit.code)
    streets = [
        Street(u.id, u.code, u.name.replace("营商环境优化中心", ""),
               (u.code, *sorted(communities.get(u.id, []))))
        for u in sorted(units, key=lambda u: u.code) if u.kind == "street_center"
    ]  # fmt: skip
    root = next(u.id for u in units if u.code == "HS")
    return Org(root=root, streets=streets)


# ------------------------------------------------------------------------------ generated rows


def _uuid(rnd: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rnd.getrandbits(128), version=4)


def _text(topic: str, problem: int, wording: int, place: str, company: int) -> tuple[str, str]:
    title, text = PROBLEMS[topic][problem][wording]
    return title, f"我是{place}{COMPANIES[company]}的负责人,{text}"


@lru_cache(maxsize=65_536)
def _profile(topic: str, problem: int, wording: int, place: str, company: int) -> str:
    """A member's entry in ``hot_issue.grams`` (as ``radar.service.profile_of`` makes it), as
    JSON: the same few thousand texts recur, so each is worked out once."""
    from services.search import grams

    title, text = _text(topic, problem, wording, place, company)
    return orjson.dumps({"t": grams(title), "x": grams(title, text)}).decode()


def _submitter_key(phone: str) -> str:
    # radar.service._submitter_key for a named enterprise contact without a credit code.
    return hashlib.sha256(phone.encode()).hexdigest()[:40]


class Generator:
    """Clusters with their member cases, alerts and grams, as rows for COPY."""

    def __init__(self, org: Org, now: datetime) -> None:
        from routing_service.radar.service import PROFILE

        self.org, self.now, self.profile_limit = org, now, PROFILE
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        self.cases = 0
        self.submitter_seq = 0

    def cluster(self, rnd: random.Random, topic: str, street: Street, problem: int, size: int,
                first: datetime, last: datetime, recent: bool) -> None:  # fmt: skip
        cluster_id = _uuid(rnd)
        times = sorted([first, last][:size] + [
            first + (last - first) * rnd.random() for _ in range(max(0, size - 2))
        ])  # fmt: skip
        phones: list[str] = []
        profiles: list[str] = []
        keys: set[str] = set()
        alert_at: datetime | None = None
        title = ""
        for received in times:
            if phones and rnd.random() < REPEAT_SHARE:
                phone = rnd.choice(phones)  # the same enterprise writing again
            else:
                self.submitter_seq += 1
                phone = f"139{self.submitter_seq:08d}"
                phones.append(phone)
            wording, company = rnd.randrange(3), rnd.randrange(len(COMPANIES))
            case_title, text = _text(topic, problem, wording, street.place, company)
            title = title or case_title
            case_id = _uuid(rnd)
            self.cases += 1
            if recent:
                status = "pending_verification" if rnd.random() < 0.5 else "in_progress"
            else:
                status = "closed"
            verified = received + timedelta(hours=2) if status != "pending_verification" else None
            submitter = orjson.dumps({"kind": "enterprise", "name": "联系人", "phone": phone,
                                      "uscc": None, "enterprise_name": COMPANIES[company],
                                      "masked": False}).decode()  # fmt: skip
            self.rows["case"].append((
                case_id, _uuid(rnd), f"YSR{self.cases:010d}", "app", "complaint", topic, False,
                "normal", case_title, text, rnd.choice(street.areas), submitter, "enterprise",
                COMPANIES[company], False, False, "[]", status,
                None if status == "pending_verification" else "general", self.org.root, received,
                received + timedelta(days=1), verified, "staff:hs_operator" if verified else None,
                received + timedelta(days=12) if status == "closed" else None, False, 0, False,
                1, 1, received, received if status == "pending_verification" else verified,
            ))  # fmt: skip
            key = _submitter_key(phone)
            keys.add(key)
            self.rows["hot_issue_member"].append((
                _uuid(rnd), cluster_id, case_id, key, received,
                1000 if not profiles else rnd.randrange(300, 1000), "system",
            ))  # fmt: skip
            profiles.append(_profile(topic, problem, wording, street.place, company))
            if alert_at is None and len(keys) >= 5 and received - times[0] <= timedelta(days=7):
                alert_at = received
        hot = alert_at is not None
        self.rows["hot_issue"].append((
            cluster_id, topic, street.id, "hot" if hot else "forming", title[:200],
            "[" + ",".join(profiles[-self.profile_limit:]) + "]", len(times), len(keys),
            times[0], times[-1], 0, times[0], alert_at or times[-1],
        ))  # fmt: skip
        if alert_at is not None:
            self.rows["hot_issue_alert"].append((_uuid(rnd), cluster_id, "5/7d", 5, alert_at))

    def recent(self, window: timedelta) -> None:
        """The window's clusters: two to four per topic × street, the same at every size."""
        rnd = random.Random(RECENT_SEED)
        for topic in TOPICS:
            for street in self.org.streets:
                problems = [0, 1, 2, rnd.randrange(3)]  # a fourth: a wording that did not join
                rnd.shuffle(problems)
                for problem in problems[: rnd.randint(2, 4)]:
                    last = self.now - window * rnd.uniform(0.0, 0.93)
                    first = max(last - timedelta(days=rnd.uniform(0, 5)), self.now - window * 0.95)
                    self.cluster(rnd, topic, street, problem, rnd.choice(RECENT_SIZES), first,
                                 last, recent=True)  # fmt: skip

    def older(self, count: int, window: timedelta, seed: int) -> None:
        """The history before the window: clusters whose last request is older than it."""
        rnd = random.Random(seed)
        span = timedelta(days=HISTORY_DAYS) - window - timedelta(hours=2)
        while count > 0:
            size = min(rnd.choice(OLDER_SIZES), count)
            count -= size
            last = self.now - window - timedelta(hours=1) - span * rnd.random()
            first = max(last - timedelta(days=rnd.uniform(0, 10)),
                        self.now - timedelta(days=HISTORY_DAYS))  # fmt: skip
            self.cluster(rnd, rnd.choice(TOPICS), rnd.choice(self.org.streets), rnd.randrange(3),
                         size, first, last, recent=False)  # fmt: skip


async def _window() -> timedelta:
    """The policy's longest window (what ``observe`` compares with)."""
    from routing_service.radar.service import DEFAULT_POLICY

    return timedelta(days=max(t["window_days"] for t in DEFAULT_POLICY["thresholds"]))


async def load(n: int, org: Org) -> dict[str, Any]:
    from services.models import utcnow

    started = time.perf_counter()
    window = await _window()
    generator = Generator(org, utcnow())
    generator.recent(window)
    recent = generator.cases
    if recent >= n:
        raise RuntimeError(f"{n:,} requests are fewer than the window's {recent:,}")
    generator.older(n - recent, window, seed=n % 101)
    rows = generator.rows
    generated = time.perf_counter() - started
    copied: dict[str, float] = {}
    async with connect() as connection:
        await connection.execute("SET synchronous_commit = off")
        await connection.execute(
            'TRUNCATE routing."case", routing.hot_issue, routing.hot_issue_member, '
            "routing.hot_issue_alert, routing.case_event, routing.outbox_event, "
            "routing.webhook_delivery CASCADE"
        )
        async with bulk_mode(connection, "routing", TABLES) as timings:
            for table, columns in (("case", CASE_COLUMNS), ("hot_issue", CLUSTER_COLUMNS),
                                   ("hot_issue_member", MEMBER_COLUMNS),
                                   ("hot_issue_alert", ALERT_COLUMNS)):  # fmt: skip
                copied[f"copy_{table}_s"] = round(
                    await copy(connection, "routing", table, columns, iter(rows[table])), 2
                )
        vacuum = await vacuum_analyze(connection, "routing", TABLES)
    return {
        "requests": n,
        "in_window": recent,
        "clusters": len(rows["hot_issue"]),
        "hot_clusters": len(rows["hot_issue_alert"]),
        "generate_s": round(generated, 2),
        **copied,
        **timings,
        "vacuum_analyze_s": round(vacuum, 2),
        "total_s": round(time.perf_counter() - started, 2),
    }


# ------------------------------------------------------------------------------ measuring


def submissions(org: Org, count: int, tag: str) -> list[Any]:
    """New requests about the window's problems (same seed at every size): most join a cluster,
    the rest start one (a wording or a problem new to that street)."""
    from services.models import utcnow
    from shared.enums import Channel, RequestType, SubmitterKind, Topic, Urgency
    from shared.events import Location, RequestSubmitted, SubmitterInfo

    rnd = random.Random(RECENT_SEED + 1)
    out = []
    for i in range(count):
        topic, street = rnd.choice(TOPICS), rnd.choice(org.streets)
        company = rnd.randrange(len(COMPANIES))
        title, text = _text(topic, rnd.randrange(3), rnd.randrange(3), street.place, company)
        out.append(RequestSubmitted(
            request_id=uuid.uuid4(), tracking_no=f"YSN{tag}{i:06d}", channel=Channel.app,
            type=RequestType.complaint, topic=Topic(topic), topic_suggested=False,
            topic_confidence=1.0, urgency=Urgency.normal, title=title, description=text,
            location=Location(area_code=rnd.choice(street.areas)),
            submitter=SubmitterInfo(kind=SubmitterKind.enterprise, name="联系人",
                                    phone=f"137{i:08d}", enterprise_name=COMPANIES[company]),
            anonymous=False, confidential=False, received_at=utcnow(),
        ))  # fmt: skip
    return out


def _candidate_statement(topic: str, street_id: uuid.UUID, received: datetime, days: int) -> Any:
    """``RadarService.observe``'s candidate query, as it builds it."""
    from sqlalchemy import select

    from routing_service.models import HotIssue
    from routing_service.radar.service import CANDIDATES
    from shared.enums import HotIssueState

    return (
        select(HotIssue)
        .where(
            HotIssue.topic == topic,
            HotIssue.area_unit_id == street_id,
            HotIssue.last_at >= received - timedelta(days=days),
            HotIssue.state != HotIssueState.resolved.value,
        )
        .order_by(HotIssue.last_at.desc())
        .limit(CANDIDATES)
    )


def _submitters_statement(cluster_id: uuid.UUID) -> Any:
    """``RadarService._submitters``: the distinct submitters of a cluster (all time)."""
    from sqlalchemy import func, select

    from routing_service.models import HotIssueMember

    return select(func.count(func.distinct(HotIssueMember.submitter_key))).where(
        HotIssueMember.hot_issue_id == cluster_id
    )


async def explain(session: Any, statement: Any) -> dict[str, Any]:
    compiled = statement.compile(dialect=session.get_bind().dialect)
    args = [compiled.params[name] for name in compiled.positiontup or []]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    rows = await raw.driver_connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), *args)
    await session.rollback()
    plan = [row[0] for row in rows]
    joined = "\n".join(plan)
    execution = next(
        (float(line.split(":")[1].split()[0]) for line in plan if line.startswith("Execution Time")),
        None,
    )  # fmt: skip
    return {
        "index": next(
            (
                name
                for name in (
                    "ix_hot_issue_topic_area_last",
                    "ix_hot_issue_member_issue_received",
                    "ix_hot_issue_member_hot_issue_id",
                )
                if name in joined
            ),
            None,
        ),  # fmt: skip
        "seq_scan": "Seq Scan" in joined,
        "execution_ms": execution,
        "sql": str(compiled),
        "plan": plan,
    }


async def window_shape(window: timedelta) -> dict[str, Any]:
    """How many clusters a request is compared with: per topic × street, in the window."""
    async with connect() as connection:
        rows = await connection.fetch(
            "SELECT count(*) AS n, max(requests) AS largest FROM routing.hot_issue "
            "WHERE last_at >= now() - $1::interval AND state <> 'resolved' "
            "GROUP BY topic, area_unit_id",
            window,
        )
        total = await connection.fetchval("SELECT count(*) FROM routing.hot_issue")
    counts = [r["n"] for r in rows]
    return {
        "combos": len(counts),
        "clusters_in_window": sum(counts),
        "per_combo_mean": round(statistics.mean(counts), 2) if counts else 0,
        "per_combo_max": max(counts, default=0),
        "largest_in_window": max((r["largest"] for r in rows), default=0),
        "clusters_total": total,
    }


async def measure(org: Org, n: int) -> dict[str, Any]:
    from sqlalchemy import event, func, select

    from routing_service.assignment.service import case_service
    from routing_service.models import HotIssue
    from routing_service.radar.service import radar_service
    from routing_service.spec import spec
    from services.db import create_engine, service_sessionmaker
    from services.models import utcnow

    window = await _window()
    engine = create_engine(env.SA_URL, schema="routing", pool_size=2)
    maker = service_sessionmaker(spec, engine)
    statements = [0]
    sql = {"s": 0.0, "started": 0.0}  # time inside statements (round trip included)
    inside: dict[str, bool] = {"observe": False}
    by_statement: dict[str, list[float]] = {}  # observe's statements: [count, seconds]

    def before_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements[0] += 1
        sql["started"] = time.perf_counter()

    def after_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        elapsed = time.perf_counter() - sql["started"]
        sql["s"] += elapsed
        if inside["observe"]:
            entry = by_statement.setdefault(" ".join(statement.split())[:90], [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed

    event.listen(engine.sync_engine, "before_cursor_execute", before_statement)
    event.listen(engine.sync_engine, "after_cursor_execute", after_statement)
    original = radar_service.observe
    observed: list[dict[str, Any]] = []

    async def timed_observe(session: Any, case: Any) -> Any:
        before, in_sql, started = statements[0], sql["s"], time.perf_counter()
        inside["observe"] = len(observed) >= WARMUP  # the warm-up's statements are not counted
        try:
            cluster = await original(session, case)
        finally:
            inside["observe"] = False
        observed.append({"s": time.perf_counter() - started, "sql_s": sql["s"] - in_sql,
                         "statements": statements[0] - before,
                         "started": cluster is not None and cluster.requests == 1})  # fmt: skip
        return cluster

    async def bypass(_session: Any, _case: Any) -> None:
        return None

    out: dict[str, Any] = {"window_days": window.days, "shape": await window_shape(window)}
    events = submissions(org, 2 * (WARMUP + SUBMISSIONS), tag=f"{n % 1000:03d}")
    samples: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
    order = random.Random(RECENT_SEED + 2)
    try:
        async with maker() as session:
            # A representative request: the window's busiest topic × street.
            busiest = (await session.execute(
                select(HotIssue.topic, HotIssue.area_unit_id)
                .where(HotIssue.last_at >= utcnow() - window)
                .group_by(HotIssue.topic, HotIssue.area_unit_id)
                .order_by(func.count().desc(), HotIssue.topic)
                .limit(1)
            )).one()  # fmt: skip
            largest = await session.scalar(
                select(HotIssue.id).where(HotIssue.last_at >= utcnow() - window)
                .order_by(HotIssue.requests.desc()).limit(1)
            )  # fmt: skip
            out["explain_candidates"] = await explain(
                session, _candidate_statement(busiest[0], busiest[1], utcnow(), window.days)
            )
            assert largest is not None
            out["explain_submitters"] = await explain(session, _submitters_statement(largest))
        with env.cpu_meter() as meter:
            for pair in range(WARMUP + SUBMISSIONS):
                modes = ["with", "without"]
                order.shuffle(modes)  # neither mode always runs first
                for mode in modes:
                    submission = events[2 * pair + modes.index(mode)]
                    radar_service.observe = timed_observe if mode == "with" else bypass  # type: ignore[method-assign,assignment]
                    before, in_sql = statements[0], sql["s"]
                    async with maker() as session:
                        cpu, started = time.process_time(), time.perf_counter()
                        case = await case_service.create_from_request(session, submission)
                        await session.commit()
                        created = time.perf_counter()
                    if case is None:
                        raise RuntimeError(f"{submission.tracking_no} made no case")
                    placed = created
                    if mode == "with":
                        # The worker's radar.place job for the event the case was written with:
                        # its own transaction. Without the radar there is no such job.
                        async with maker() as session:
                            await radar_service.place(session, case.id)
                            await session.commit()
                            placed = time.perf_counter()
                    cpu = time.process_time() - cpu
                    if pair >= WARMUP:
                        samples[mode].append({"total_ms": (placed - started) * 1000,
                                              "create_ms": (created - started) * 1000,
                                              "place_ms": (placed - created) * 1000,
                                              "sql_ms": (sql["s"] - in_sql) * 1000,
                                              "cpu_ms": cpu * 1000,
                                              "statements": statements[0] - before})  # fmt: skip
        # Other people's work on a shared box slows both modes; its share says how much.
        out["cpu"] = {**meter, "foreign_share": env.foreign_share(meter)}
    finally:
        if "observe" in vars(radar_service):
            delattr(radar_service, "observe")  # the class's method again
        event.remove(engine.sync_engine, "before_cursor_execute", before_statement)
        event.remove(engine.sync_engine, "after_cursor_execute", after_statement)
        await engine.dispose()
    measured = observed[WARMUP:]
    for mode, rows in samples.items():
        out[mode] = {
            **summarize([r["total_ms"] for r in rows]),
            "create": summarize([r["create_ms"] for r in rows]),
            "place": summarize([r["place_ms"] for r in rows]),
            "cpu_ms_mean": round(statistics.mean(r["cpu_ms"] for r in rows), 2),
            "sql_ms_mean": round(statistics.mean(r["sql_ms"] for r in rows), 2),
            "statements_mean": round(statistics.mean(r["statements"] for r in rows), 2),
        }
    out["observe"] = {
        **summarize([o["s"] * 1000 for o in measured]),
        "statements_mean": round(statistics.mean(o["statements"] for o in measured), 2),
        "sql": summarize([o["sql_s"] * 1000 for o in measured]),
        # Per submission: how often each statement ran and its mean time (ms) per submission.
        "statements": sorted(
            (
                {
                    "sql": text,
                    "per_call": round(n / len(measured), 2),
                    "ms_per_call": round(seconds * 1000 / len(measured), 3),
                }
                for text, (n, seconds) in by_statement.items()
            ),
            key=lambda e: -float(e["ms_per_call"]),
        ),  # fmt: skip
        "started_clusters": sum(1 for o in measured if o["started"]),
        "joined_clusters": sum(1 for o in measured if not o["started"]),
    }
    out["share_p50_ms"] = round(out["with"]["p50"] - out["without"]["p50"], 2)
    out["share_p95_ms"] = round(out["with"]["p95"] - out["without"]["p95"], 2)
    async with connect() as connection:
        out["placed"] = await connection.fetchval(
            'SELECT count(*) FROM routing.hot_issue_member m JOIN routing."case" c '
            "ON c.id = m.case_id WHERE c.tracking_no LIKE 'YSN%'"
        )
    return out


# ------------------------------------------------------------------------------ run


def sizes_for(ctx: Context) -> list[int]:
    if ctx.sizes not in CLI_DEFAULT_SIZES:
        return sorted(ctx.sizes)  # --sizes given
    return list(SIZES)


async def run(ctx: Context) -> None:
    print("  importing the seed org tree", flush=True)
    org = await seed_org()
    per_size: dict[int, dict[str, Any]] = {}
    for n in sizes_for(ctx):
        print(f"  loading {n:,} requests with their clusters and members (COPY)", flush=True)
        loaded = await load(n, org)
        print(f"    loaded in {loaded['total_s']} s: {loaded}", flush=True)
        print(f"    {SUBMISSIONS} submissions with the radar and {SUBMISSIONS} without, "
              f"alternating, after {WARMUP} of each:", flush=True)  # fmt: skip
        measured = await measure(org, n)
        await env.flush_redis()
        per_size[n] = {"load": loaded, **measured}
        _print(n, per_size[n])
        _figures(ctx, n, per_size[n])
    ctx.detail(SECTION, "sizes", per_size)
    _growth(ctx, per_size)


def _print(n: int, data: dict[str, Any]) -> None:
    with_, without, observe = data["with"], data["without"], data["observe"]
    shape, plan = data["shape"], data["explain_candidates"]
    print(f"      window: {shape['clusters_in_window']} clusters in {shape['combos']} topic × "
          f"street ({shape['per_combo_mean']} each, at most {shape['per_combo_max']}) of "
          f"{shape['clusters_total']:,}; candidate query {plan['index'] or 'NO INDEX'}, "
          f"{plan['execution_ms']} ms", flush=True)  # fmt: skip
    print(f"      with radar p50 {with_['p50']} ms p95 {with_['p95']} ms; without p50 "
          f"{without['p50']} ms p95 {without['p95']} ms (radar.place job p50 "
          f"{with_['place']['p50']} ms); share p50 {data['share_p50_ms']} ms, "
          f"p95 {data['share_p95_ms']} ms; observe p50 {observe['p50']} ms p95 {observe['p95']} "
          f"ms ({observe['sql']['p50']} ms p50 in {observe['statements_mean']} statements); other "
          f"processes {data['cpu']['foreign_share']:.0%} of the machine; joined {observe['joined_clusters']} / "
          f"started {observe['started_clusters']}", flush=True)  # fmt: skip
    for entry in observe["statements"][:6]:
        print(
            f"        {entry['ms_per_call']:7.3f} ms, {entry['per_call']}x: {entry['sql']}",
            flush=True,
        )


def _figures(ctx: Context, n: int, data: dict[str, Any]) -> None:
    label = f"{n:,} requests of history"
    with_, without, observe = data["with"], data["without"], data["observe"]
    shape, plan, count = data["shape"], data["explain_candidates"], data["explain_submitters"]
    baseline = "create_from_request + commit, observe bypassed, no radar.place job"
    ctx.note(SECTION, f"{label}: {shape['clusters_in_window']} clusters in the {data['window_days']}-day "
             f"window over {shape['combos']} topic × street ({shape['per_combo_mean']} each), "
             f"{shape['clusters_total']:,} clusters in all; candidate query: "
             + " / ".join(line.strip() for line in plan["plan"][:4]))  # fmt: skip
    for q in ("p50", "p95"):
        ctx.results.add(
            Figure(
                f"radar.{n}.share.{q}",
                SECTION,
                f"Radar's share of a submission (create_from_request + commit, then the "
                f"radar.place job; with − without the radar), {label}: {q} of {with_['count']} each",
                data[f"share_{q}_ms"],
                "ms",
                baseline=without[q],
                baseline_label=f"{baseline} ({q})",
                notes=f"with the radar {with_[q]} ms (creating {with_['create'][q]} ms, the "
                f"radar.place job {with_['place'][q]} ms), without {without[q]} ms; statements per "
                f"submission {with_['statements_mean']} vs {without['statements_mean']}; this "
                f"process's CPU {with_['cpu_ms_mean']} vs {without['cpu_ms_mean']} ms, in SQL "
                f"{with_['sql_ms_mean']} vs {without['sql_ms_mean']} ms (means); other processes "
                f"used {data['cpu']['foreign_share']:.0%} of the machine meanwhile",
                details={"with": with_, "without": without},
            )
        )
    ctx.results.add(
        Figure(
            f"radar.{n}.observe",
            SECTION,
            f"radar_service.observe timed around the call, {label}: p95 of {observe['count']}",
            observe["p95"],
            "ms",
            notes=f"p50 {observe['p50']} ms, of which in SQL statements (round trips included) "
            f"p50 {observe['sql']['p50']} ms, p95 {observe['sql']['p95']} ms; "
            f"{observe['statements_mean']} statements per call, the costliest: "
            + "; ".join(
                f"{e['sql'][:40]}… {e['ms_per_call']} ms" for e in observe["statements"][:3]
            )
            + "; "
            f"joined a cluster {observe['joined_clusters']}, started one "
            f"{observe['started_clusters']}; {data['placed']} of the with-radar submissions "
            f"(warm-up included) are members",
            details={"observe": observe},
        )
    )
    ctx.results.add(
        Figure(
            f"radar.{n}.candidates_plan",
            SECTION,
            f"Candidate query is an index range on (topic, area, last_at), {label} (1 = yes)",
            1.0 if plan["index"] == "ix_hot_issue_topic_area_last" and not plan["seq_scan"] else 0.0,
            "",
            target=Target(">=", 1, text="ix_hot_issue_topic_area_last, no seq scan"),
            notes=f"EXPLAIN ANALYZE {plan['execution_ms']} ms; submitter count of the window's "
            f"largest cluster ({shape['largest_in_window']} requests): {count['index'] or 'no index'}, "
            f"{count['execution_ms']} ms",
            details={"candidates": plan, "submitters": count},
        )
    )  # fmt: skip


def _growth(ctx: Context, per_size: dict[int, dict[str, Any]]) -> None:
    sizes = sorted(per_size)
    if len(sizes) < 2:
        return
    small, large = sizes[0], sizes[-1]
    factor = large / small
    getters: dict[str, tuple[str, Callable[[dict[str, Any]], float], bool]] = {
        "share_p50": ("the radar's share of a submission, p50", lambda d: d["share_p50_ms"], True),
        "share_p95": ("the radar's share of a submission, p95", lambda d: d["share_p95_ms"], True),
        "observe_p50": ("radar_service.observe, p50", lambda d: d["observe"]["p50"], False),
        "observe_p95": ("radar_service.observe, p95", lambda d: d["observe"]["p95"], False),
    }
    for key, (what, get, targeted) in getters.items():
        before, after = get(per_size[small]), get(per_size[large])
        ctx.results.add(
            Figure(
                f"growth.radar.{key}",
                "growth",
                f"Growth of {what}, {small:,} → {large:,} requests ({factor:.0f}x history)",
                after / before if before > 0 else float("nan"),
                "x",
                target=Target(
                    "<=",
                    GROWTH_LIMIT,
                    text=f"<= {GROWTH_LIMIT}x (cost follows the clusters in the window)",
                )
                if targeted
                else None,  # fmt: skip
                baseline=factor,
                baseline_label="history growth factor",
                notes=f"{before:.2f} ms → {after:.2f} ms",
            )
        )
