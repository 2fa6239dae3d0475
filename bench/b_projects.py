"""Projects (issue 18): ``GET /v1/projects`` over N projects and the agency plan's writes.

Each size is a fresh load with COPY (valid foreign keys, re-added after the load, which checks
every row): the seed district's org tree and procedure catalogue (``routing_service/seed``,
imported with the service's own loaders), N projects over the last three years in every stage
and level, ~90% of them in the center's 19 streets, and for each its agency case
(``project_role = 'plan'``) with three steps and their cards: 备案 done, 用地预审 and 环评 with
the department (approved or cancelled once the project is completed or terminated). 1% of the
projects have an open step card past its deadline (overdue, a red card); every other open card
is due in the next weeks. Departments have webhook subscriptions, as in production.

Measured over HTTP against the real routing API process, with a district center dispatcher's
token (a street center's for the scoped list):

1. ``GET /v1/projects`` first page (newest first): plain, ``stage=``, ``level=``,
   ``overdue=true``, ``uscc=`` and a street center's scope, each 15 times after a warm-up; then
   how each p95 grows from the smaller size to the larger one (target ≤ 1.5x for 10x data: the
   cost follows the page, not the table). ``EXPLAIN (ANALYZE)`` of the list statements, exactly
   as the service builds them, says whether ``project`` is read whole.
2. On fresh projects (no plan yet): ``POST /v1/projects/{id}/steps`` with three steps (备案 on the
   spot, 用地预审 dispatched, 土地出让 waiting for it), then, as the department, sign and complete
   用地预审 and, as the center, ``POST /v1/cards/{id}/review`` accepting it, which dispatches the
   waiting 土地出让. Same-run baselines: ``POST /v1/cases/{id}/dispatch`` of ordinary cases to the
   same department, and the review of those cases' cards. Latency (sequential calls) and CPU
   per call of the routing API process and of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import operator
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from bench import env
from bench.context import Context, connect
from bench.loader import bulk_mode, columns_of, copy, vacuum_analyze
from bench.org import staff_token
from bench.results import Figure, Target
from bench.stats import summarize

SECTION = "projects"
QUICK_SIZES = (10_000, 100_000)
FULL_SIZES = (10_000, 100_000)  # 1M: --sizes 100000,1000000 (~10 min to load)
CLI_DEFAULT_SIZES = ([100_000], [100_000, 1_000_000])  # what bench.cli passes without --sizes
CHUNK = 25_000  # projects generated and copied at a time (a million at once would hold GBs)
OVERDUE_EVERY = 100  # 1% of projects have an open step card past due
REPEAT_QUICK, REPEAT_FULL = 15, 30
FRESH_QUICK, FRESH_FULL = 30, 60
TABLES = ["project", "case", "card", "project_step"]
GROWTH_LIMIT = 1.5

STAGES = (["planned"] * 15 + ["signed"] * 20 + ["started"] * 25 + ["continuing"] * 25
          + ["completed"] * 10 + ["paused"] * 3 + ["terminated"] * 2)  # fmt: skip
LEVELS = ["provincial"] * 2 + ["city"] * 8 + ["district"] * 30 + ["general"] * 60
ACTIVE = {"planned", "signed", "started", "continuing", "paused"}
BRAND = "恒达华润泰兴盛鑫宏远金源德利新瑞祥和中天永安嘉诚联创博海"
INDUSTRY = (
    "新材料",
    "装备制造",
    "生物医药",
    "食品加工",
    "现代物流",
    "电子信息",
    "精细化工",
    "新能源",
)
KINDS = ("产业园", "生产基地", "扩建工程", "技改项目", "研发中心", "仓储中心")
# The loaded plans' three steps: (procedure code, open while the project is active).
PLAN = (("filing", False), ("land-pre-review", True), ("eia", True))
# The measured plan: 备案 on the spot, 用地预审 dispatched, 土地出让 waiting for 用地预审.
FRESH_PLAN = {"steps": [
    {"procedure_code": "filing", "on_spot": True, "result": "窗口当场办结备案"},
    {"procedure_code": "land-pre-review", "instructions": "请优先办理用地预审"},
    {"procedure_code": "land-supply"},
]}  # fmt: skip
LIST_VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "plain": ("first page, no filter", {}),
    "stage": ("stage=started (25% of projects)", {"stage": "started"}),
    "level": ("level=provincial (2%)", {"level": "provincial"}),
    "overdue": ("overdue=true (1%)", {"overdue": "true"}),
    "uscc": ("uscc= one enterprise", {}),  # the enterprise is filled in per size
    "street": ("a street center's scope (~5%)", {}),
}

_JSON_EMPTY_LIST = "[]"


def _uuid(rnd: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rnd.getrandbits(128), version=4)


# ------------------------------------------------------------------------------ org and catalogue


@dataclass(frozen=True)
class Org:
    root: uuid.UUID
    streets: list[tuple[uuid.UUID, str, str]]  # id, code, path
    units: dict[str, tuple[uuid.UUID, str]]  # code → id, path
    procedures: dict[str, dict[str, Any]]  # code → unit_id, name, time_limit_days, prerequisites


async def seed_org() -> Org:
    """The seed district (units, dispatch rules) and the default procedure catalogue, through the
    service's own importers, then a webhook subscription for every department."""
    from sqlalchemy import select

    from routing_service.department.loader import import_document, parse_document, seed_document
    from routing_service.models import OrgUnit, Procedure
    from routing_service.project.service import catalogue_service
    from routing_service.spec import spec
    from services.db import create_engine, service_sessionmaker

    engine = create_engine(env.SA_URL, schema="routing", pool_size=1)
    try:
        async with service_sessionmaker(spec, engine)() as session:
            await import_document(session, parse_document(seed_document(), "application/yaml"))
            await catalogue_service.seed(session)
            await session.commit()
            units = (await session.scalars(select(OrgUnit))).all()
            procedures = (await session.scalars(select(Procedure))).all()
    finally:
        await engine.dispose()
    by_code = {u.code: (u.id, u.path) for u in units}
    streets = sorted(
        ((u.id, u.code, u.path) for u in units if u.kind == "street_center"), key=lambda u: u[1]
    )
    catalogue = {
        p.code: {"unit_id": p.unit_id, "name": p.name, "limit": p.time_limit_days,
                 "prerequisites": list(p.prerequisites)}
        for p in procedures
    }  # fmt: skip
    departments = [u.id for u in units if u.kind == "department"]
    async with connect() as connection:
        for unit_id in departments:
            await connection.execute(
                "INSERT INTO routing.webhook_subscription (id, unit_id, url, secret, event_types, active, created_at) "
                "SELECT $1, $2, 'http://127.0.0.1:9/hook', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '[\"*\"]', true, now() "
                "WHERE NOT EXISTS (SELECT 1 FROM routing.webhook_subscription WHERE unit_id = $2)",
                uuid.uuid4(),
                unit_id,
            )
    for code, _limit in PLAN:
        if catalogue.get(code, {}).get("unit_id") is None:
            raise RuntimeError(f"procedure {code} has no responsible unit in the seed catalogue")
    return Org(root=by_code["HS"][0], streets=streets, units=by_code, procedures=catalogue)


# ------------------------------------------------------------------------------ generated rows

PROJECT_COLUMNS = ["id", "name", "tracking_no", "tracking_secret_hash", "enterprise_name", "uscc",
                   "investment", "industry", "area_unit_id", "center_unit_id", "level", "stage",
                   "paused_from", "stage_reason", "agent_id", "contact_name", "contact_phone",
                   "stage_dates", "created_by", "created_at", "updated_at", "history_head",
                   "history_seq", "revision"]  # fmt: skip
CASE_COLUMNS = ["id", "request_id", "tracking_no", "channel", "type", "topic", "topic_suggested",
                "urgency", "title", "description", "submitter", "submitter_kind",
                "enterprise_uscc", "enterprise_name", "anonymous", "confidential", "attachments",
                "status", "classification", "owner_unit_id", "received_at", "verify_due_at",
                "due_at", "verified_at", "verified_by", "must_designate", "redo_count",
                "escalated", "closed_at", "project_id", "project_role", "revision",
                "history_seq", "created_at", "updated_at"]  # fmt: skip
CARD_COLUMNS = ["id", "case_id", "unit_id", "role", "status", "instructions", "dispatched_by",
                "dispatched_at", "sign_due_at", "signed_at", "signed_by", "clock_start_at",
                "limit_days", "paused_days", "original_due_at", "due_at", "due_provisional",
                "return_deadline_at", "submitted_at", "result", "evidence", "approved_at",
                "send_back_count", "redo_count", "extension_approved", "designated",
                "project_id", "procedure_code", "legal_limit_days", "on_spot",
                "supervision_level", "listed", "next_check_at", "revision",
                "updated_at"]  # fmt: skip
STEP_COLUMNS = ["id", "project_id", "procedure_code", "name", "unit_id", "limit_days",
                "legal_limit_days", "prerequisites", "instructions", "position", "status",
                "on_spot", "card_id", "dispatched_at", "done_at", "cancel_reason", "created_by",
                "created_at"]  # fmt: skip


class Layout:
    """The generated columns that the table has (others are changing the schema too: a column
    the table no longer has is left out, a NOT NULL column the generator does not know is an
    error before any row is copied)."""

    def __init__(self, table: str, generated: list[str], actual: list[str], required: set[str]):
        missing = sorted(required - set(generated))
        if missing:
            raise RuntimeError(
                f"routing.{table} has NOT NULL columns the bench does not fill: {missing}"
            )
        self.columns = [c for c in generated if c in actual]
        indexes = [generated.index(c) for c in self.columns]
        self.pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = (
            None if len(indexes) == len(generated) else _picker(indexes)
        )

    def rows(self, records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return records if self.pick is None else [self.pick(r) for r in records]


def _picker(indexes: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    getter = operator.itemgetter(*indexes)
    return lambda row: tuple(getter(row))


async def layouts(connection: Any) -> dict[str, Layout]:
    out = {}
    for table, generated in (("project", PROJECT_COLUMNS), ("case", CASE_COLUMNS),
                             ("card", CARD_COLUMNS), ("project_step", STEP_COLUMNS)):  # fmt: skip
        required = {
            r["column_name"]
            for r in await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'routing' "
                "AND table_name = $1 AND is_nullable = 'NO' AND column_default IS NULL",
                table,
            )
        }
        out[table] = Layout(
            table, generated, await columns_of(connection, "routing", table), required
        )
    return out


_USCC_CACHE: dict[int, str] = {}


def uscc_of(enterprise: int) -> str:
    """A valid 统一社会信用代码 for enterprise number ``enterprise`` (two projects each)."""
    found = _USCC_CACHE.get(enterprise)
    if found is None:
        from shared.identifiers import uscc_check_char

        prefix = f"91130402{enterprise:09d}"
        found = prefix + uscc_check_char(prefix)
        if len(_USCC_CACHE) < 1000:
            _USCC_CACHE[enterprise] = found
    return found


class Generator:
    """Rows for projects ``start … start+count`` of ``n`` (created over the last three years, in
    order), with their agency cases, steps and cards."""

    def __init__(self, org: Org, n: int, now: datetime, seed: int) -> None:
        self.org, self.n, self.now = org, n, now
        self.seed = seed
        self.secret = hashlib.sha256(b"bench").hexdigest()
        self.steps = [(code, org.procedures[code]) for code, _open in PLAN]

    def chunk(self, start: int, count: int) -> dict[str, list[tuple[Any, ...]]]:
        rnd = random.Random(self.seed * 1_000_003 + start)
        out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        span = 3 * 365 * 86400
        now, root = self.now, self.org.root
        for i in range(start, start + count):
            created = now - timedelta(seconds=span * (self.n - i) / self.n + 3600)
            overdue = i % OVERDUE_EVERY == OVERDUE_EVERY // 2
            stage = rnd.choice(STAGES) if not overdue else rnd.choice(("started", "continuing"))
            level = rnd.choice(LEVELS)
            if rnd.random() < 0.1:
                area = center = root
            else:
                area = center = self.org.streets[rnd.randrange(len(self.org.streets))][0]
            project_id, case_id = _uuid(rnd), _uuid(rnd)
            enterprise = f"邯郸{BRAND[i % len(BRAND)]}{BRAND[(i // len(BRAND)) % len(BRAND)]}{rnd.choice(INDUSTRY)}有限公司"
            uscc = uscc_of(i // 2)
            name = f"{enterprise[2:4]}{rnd.choice(INDUSTRY)}{rnd.choice(KINDS)}"
            tracking = f"XM{self.seed % 100:02d}{i:010d}"
            dates = orjson.dumps(
                {
                    "planned": {
                        "planned": created.date().isoformat(),
                        "actual": created.date().isoformat(),
                    }
                }
            ).decode()
            out["project"].append((
                project_id, name, tracking, self.secret, enterprise, uscc,
                Decimal(rnd.randrange(50_000, 5_000_000)) / 100, rnd.choice(INDUSTRY), area,
                center, level, stage, "started" if stage == "paused" else None,
                "等待用地指标" if stage in ("paused", "terminated") else None, None, "王经理",
                "13912345678", dates, "staff:hs_operator", created, created, None, 0, 1,
            ))  # fmt: skip
            if stage == "planned" and not overdue and rnd.random() < 0.5:
                continue  # half of the planned projects have no plan yet
            final = stage not in ACTIVE
            submitter = orjson.dumps({"kind": "enterprise", "name": "王经理", "phone": "13912345678",
                                      "uscc": uscc, "enterprise_name": enterprise, "masked": False}).decode()  # fmt: skip
            open_due: list[datetime] = []
            for position, ((code, procedure), (_c, is_open)) in enumerate(
                zip(self.steps, PLAN, strict=True)
            ):
                card_id, step_id = _uuid(rnd), _uuid(rnd)
                limit = procedure["limit"]
                running = is_open and not final
                if running:
                    dispatched = now - timedelta(seconds=rnd.randrange(1, 15 * 86400))
                    late = overdue and code == "land-pre-review"
                    due = now - timedelta(days=rnd.randrange(1, 10)) if late else now + timedelta(
                        seconds=rnd.randrange(2 * 86400, 30 * 86400))  # fmt: skip
                    signed = late or rnd.random() < 0.8
                    status = "signed" if signed else "dispatched"
                    level_now = "red" if late else ("none" if signed else "sign_overdue")
                    next_check = now + timedelta(seconds=rnd.randrange(3600, 86400 * 2))
                    approved = submitted = None
                    open_due.append(due)
                else:
                    dispatched = created + timedelta(days=1 + position * 5)
                    due = dispatched + timedelta(days=limit * 1.4)
                    signed = True
                    cancelled = final and stage == "terminated" and is_open
                    status = "cancelled" if cancelled else "approved"
                    submitted = (
                        None
                        if cancelled
                        else dispatched + timedelta(days=rnd.randrange(1, limit + 1))
                    )
                    approved = None if cancelled else submitted + timedelta(hours=4)  # type: ignore[operator]
                    level_now, next_check = "none", None
                signed_at = dispatched + timedelta(hours=1) if signed else None
                out["card"].append((
                    card_id, case_id, procedure["unit_id"], "step", status,
                    f"【代办事项】{procedure['name']}", "staff:hs_dispatcher", dispatched,
                    dispatched + timedelta(hours=2), signed_at,
                    "staff:dept_liaison" if signed else None, dispatched, limit, 0, due, due, False,
                    dispatched + timedelta(days=2), submitted, "已办结" if approved else None,
                    _JSON_EMPTY_LIST, approved, 0, 0, False, False, project_id, code, limit, False,
                    level_now, False, next_check, 1, approved or signed_at or dispatched,
                ))  # fmt: skip
                step_status = ("in_progress" if running else
                               "cancelled" if status == "cancelled" else "done")  # fmt: skip
                out["project_step"].append((
                    step_id, project_id, code, procedure["name"], procedure["unit_id"], limit, limit,
                    orjson.dumps([p for p in procedure["prerequisites"] if p in ("filing",)]).decode(),
                    None, position, step_status, False, card_id, dispatched, approved,
                    "项目终止" if step_status == "cancelled" else None, "staff:hs_operator", created,
                ))  # fmt: skip
            received = created + timedelta(hours=2)
            out["case"].append((
                case_id, _uuid(rnd), tracking, "agency", "help", "permit", False, "normal",
                f"项目代办:{name}", f"{enterprise} · 投资项目代办", submitter, "enterprise", uscc,
                enterprise, False, False, _JSON_EMPTY_LIST, "closed" if final else "in_progress",
                "special", center, received, received, min(open_due) if open_due else None,
                received, "staff:hs_operator", False, 0, False, now if final else None,
                project_id, "plan", 1, 0, received, now if final else received,
            ))  # fmt: skip
        return out


def fresh_projects(org: Org, count: int, now: datetime) -> list[tuple[Any, ...]]:
    """Projects just registered (signed, no plan yet) for the write measurements."""
    street = org.streets[0][0]
    rows = []
    for i in range(count):
        created = now - timedelta(minutes=30) + timedelta(seconds=i)
        enterprise = f"邯郸新建{BRAND[i % len(BRAND)]}科技有限公司"
        rows.append((
            uuid.uuid4(), f"新建项目{i}", f"XMF{i:010d}", hashlib.sha256(b"fresh").hexdigest(),
            enterprise, uscc_of(900_000_000 + i), Decimal("12000.00"), "新材料", street, street,
            "city", "signed", None, None, None, "李经理", "13912340000", "{}",
            "staff:hs_operator", created, created, None, 0, 1,
        ))  # fmt: skip
    return rows


def plain_cases(org: Org, count: int, now: datetime) -> list[tuple[Any, ...]]:
    """Ordinary verified cases awaiting dispatch (the baseline's)."""
    submitter = orjson.dumps({"kind": "person", "name": "张先生", "phone": "13812345678",
                              "masked": False}).decode()  # fmt: skip
    rows = []
    for i in range(count):
        received = now - timedelta(hours=3)
        rows.append((
            uuid.uuid4(), uuid.uuid4(), f"YSP{i:012d}", "app", "help", "land", False, "normal",
            "企业用地手续咨询", "厂区扩建需要办理用地手续,希望了解流程。", submitter, "person",
            None, None, False, False, _JSON_EMPTY_LIST, "awaiting_dispatch", "general",
            org.root, received, received + timedelta(days=1), None, received + timedelta(hours=1),
            "staff:hs_operator", False, 0, False, None, None, None, 1, 0, received, received,
        ))  # fmt: skip
    return rows


async def load(n: int, org: Org, fresh: int, seed: int) -> dict[str, Any]:
    from services.models import utcnow

    now = utcnow()
    started = time.perf_counter()
    copied = dict.fromkeys(TABLES, 0.0)
    rows = dict.fromkeys(TABLES, 0)
    generated = 0.0
    generator = Generator(org, n, now, seed)
    async with connect() as connection:
        await connection.execute("SET synchronous_commit = off")
        await connection.execute(
            'TRUNCATE routing.project, routing."case", routing.card, routing.case_event, '
            "routing.project_event, routing.supervision_event, routing.webhook_delivery, "
            "routing.outbox_event, routing.idempotency_record CASCADE"
        )
        layout = await layouts(connection)
        async with bulk_mode(connection, "routing", TABLES) as timings:
            for start in range(0, n, CHUNK):
                began = time.perf_counter()
                chunk = generator.chunk(start, min(CHUNK, n - start))
                generated += time.perf_counter() - began
                for table in TABLES:
                    records = layout[table].rows(chunk[table])
                    rows[table] += len(records)
                    copied[table] += await copy(
                        connection, "routing", table, layout[table].columns, records
                    )
        vacuum = await vacuum_analyze(connection, "routing", TABLES)
        # The write measurements' rows, with every index and foreign key in place.
        await copy(connection, "routing", "project", layout["project"].columns,
                   layout["project"].rows(fresh_projects(org, fresh, now)))  # fmt: skip
        await copy(connection, "routing", "case", layout["case"].columns,
                   layout["case"].rows(plain_cases(org, fresh, now)))  # fmt: skip
        sizes = {
            t: round(await connection.fetchval(f"SELECT pg_total_relation_size('routing.\"{t}\"')") / 2**20, 1)
            for t in TABLES
        }  # fmt: skip
        overdue = await connection.fetchval(
            "SELECT count(DISTINCT project_id) FROM routing.card WHERE project_id IS NOT NULL "
            "AND status IN ('dispatched', 'signed') AND due_at < now()"
        )
    return {
        "projects": n,
        "rows": rows,
        "overdue_projects": overdue,
        "generate_s": round(generated, 2),
        "copy_s": {t: round(s, 2) for t, s in copied.items()},
        **timings,
        "vacuum_analyze_s": round(vacuum, 2),
        "total_mb": sizes,
        "total_s": round(time.perf_counter() - started, 2),
    }


# ------------------------------------------------------------------------------ EXPLAIN


def _principal(role: str, unit_code: str, unit_path: str, subject: str) -> Any:
    from services.auth import Principal

    return Principal(
        kind="staff", subject=subject, role=role, unit_code=unit_code, unit_path=unit_path
    )


async def explain_lists(variants: dict[str, tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of each list's first page as ``read_page`` runs it (the
    service's ``list_statement``, the keyset columns and order, ``limit + 1``)."""
    from routing_service.project.schemas import ProjectFilters
    from routing_service.project.service import PROJECT_ORDER, project_service
    from routing_service.spec import spec
    from services.db import create_engine, service_sessionmaker

    engine = create_engine(env.SA_URL, schema="routing", pool_size=1)
    out: dict[str, Any] = {}
    try:
        async with service_sessionmaker(spec, engine)() as session:
            for name, (principal, params) in variants.items():
                filters = ProjectFilters.model_validate(params)
                stmt = await project_service.list_statement(session, principal, filters)
                page = (
                    stmt.add_columns(*(k.expression for k in PROJECT_ORDER.keys))
                    .order_by(*PROJECT_ORDER.order_by())
                    .limit(filters.limit + 1)
                )
                compiled = page.compile(
                    dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
                )
                args = [compiled.params[p] for p in compiled.positiontup or []]
                raw = await (await session.connection()).get_raw_connection()
                rows = await raw.driver_connection.fetch(  # type: ignore[union-attr]
                    "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), *args
                )
                plan = [row[0] for row in rows]
                joined = "\n".join(plan)
                out[name] = {
                    "seq_scan_project": "Seq Scan on project" in joined,
                    "execution_ms": next(
                        (
                            float(line.split(":")[1].split()[0])
                            for line in plan
                            if line.startswith("Execution Time")
                        ),
                        None,
                    ),  # fmt: skip
                    "sql": str(compiled),
                    "plan": plan,
                }
            await session.rollback()
    finally:
        await engine.dispose()
    return out


# ------------------------------------------------------------------------------ HTTP


class Api:
    def __init__(self, port: int) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)

    async def call(self, method: str, path: str, token: str, *, json: Any = None,
                   params: dict[str, str] | None = None, expect: int = 200) -> tuple[float, Any]:  # fmt: skip
        started = time.perf_counter()
        response = await self.client.request(
            method, path, json=json, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path} {params or ''} answered {response.status_code}: "
                               f"{response.text[:400]}")  # fmt: skip
        return elapsed, response.json()

    async def close(self) -> None:
        await self.client.aclose()


async def measure_lists(api: Api, tokens: dict[str, str], uscc: str, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (_label, params) in LIST_VARIANTS.items():
        query = {**params, "limit": "50"}
        if name == "uscc":
            query["uscc"] = uscc
        token = tokens["street" if name == "street" else "center"]
        _t, first = await api.call("GET", "/v1/projects", token, params=query)  # warm-up
        times = [
            (await api.call("GET", "/v1/projects", token, params=query))[0] for _ in range(repeat)
        ]
        out[name] = {**summarize(times), "items": len(first["items"]), "samples_ms": times}
        print(f"      {name}: {len(first['items'])} items, p50 {out[name]['p50']} ms, "
              f"p95 {out[name]['p95']} ms", flush=True)  # fmt: skip
    return out


async def measure_writes(api: Api, pid: int, tokens: dict[str, str], fresh: int) -> dict[str, Any]:
    """The plan on fresh projects and the approval that dispatches the waiting step; the
    ordinary case dispatch and review as baselines. Sequential calls (c=1)."""
    async with connect() as connection:
        projects = [r["id"] for r in await connection.fetch(
            "SELECT id FROM routing.project WHERE tracking_no LIKE 'XMF%' ORDER BY tracking_no")]  # fmt: skip
        cases = [r["id"] for r in await connection.fetch(
            "SELECT id FROM routing.\"case\" WHERE tracking_no LIKE 'YSP%' ORDER BY tracking_no")]  # fmt: skip
    center, department = tokens["center"], tokens["department"]
    pids = {"routing-api": pid}
    out: dict[str, Any] = {}

    async def batch(name: str, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        times: list[float] = []
        answers: list[Any] = []
        with env.cpu_meter(pids) as cpu:
            for call in calls:
                elapsed, answer = await call()
                times.append(elapsed)
                answers.append(answer)
        out[name] = {
            **summarize(times), "samples_ms": times,
            "api_cpu_ms_per_call": round(cpu["process_cpu_s"]["routing-api"] * 1000 / len(calls), 2),
            "postgres_cpu_ms_per_call": round(cpu["postgres_cpu_s"] * 1000 / len(calls), 2),
            "foreign_share": env.foreign_share(cpu),
        }  # fmt: skip
        print(f"      {name}: p50 {out[name]['p50']} ms, p95 {out[name]['p95']} ms, API CPU "
              f"{out[name]['api_cpu_ms_per_call']} ms/call, PostgreSQL "
              f"{out[name]['postgres_cpu_ms_per_call']} ms/call", flush=True)  # fmt: skip
        return answers

    def plan_call(project_id: uuid.UUID) -> Callable[[], Any]:
        return lambda: api.call(
            "POST", f"/v1/projects/{project_id}/steps", center, json=FRESH_PLAN, expect=201
        )

    def dispatch_call(case_id: uuid.UUID) -> Callable[[], Any]:
        body = {"units": [{"unit_code": "DEPT-GH"}]}
        return lambda: api.call("POST", f"/v1/cases/{case_id}/dispatch", center, json=body)

    def card_call(
        card_id: uuid.UUID, action: str, token: str, body: Any = None
    ) -> Callable[[], Any]:
        return lambda: api.call("POST", f"/v1/cards/{card_id}/{action}", token, json=body)

    # Warm-up outside the figures (first use of every code path, the calendar cache…): one
    # project and one case go through the whole flow.
    warm_project, warm_case = projects.pop(), cases.pop()
    _t, warm_plan = await plan_call(warm_project)()
    await dispatch_call(warm_case)()
    await _approve(api, [_step_card(warm_plan)], center, department)
    await _approve(api, await _case_cards([warm_case]), center, department)

    plans = await batch("plan", [plan_call(p) for p in projects])
    step_cards = [_step_card(answer) for answer in plans]
    for card in step_cards:
        await card_call(card, "sign", department)()
        await card_call(card, "complete", department, {"result": "用地预审意见已出具"})()
    await batch(
        "step_review", [card_call(c, "review", center, {"accept": True}) for c in step_cards]
    )

    await batch("case_dispatch", [dispatch_call(c) for c in cases])
    case_cards = await _case_cards(cases)
    for card in case_cards:
        await card_call(card, "sign", department)()
        await card_call(card, "complete", department, {"result": "已答复企业用地流程"})()
    await batch(
        "case_review", [card_call(c, "review", center, {"accept": True}) for c in case_cards]
    )

    async with connect() as connection:
        # Did each approval dispatch the waiting 土地出让 (a new open card)?
        out["dependants_dispatched"] = await connection.fetchval(
            "SELECT count(*) FROM routing.project_step s JOIN routing.card c ON c.id = s.card_id "
            "WHERE s.project_id = ANY($1::uuid[]) AND s.procedure_code = 'land-supply' "
            "AND s.status = 'in_progress' AND c.status = 'dispatched'",
            projects,
        )
    out["fresh_projects"] = len(projects)
    return out


def _step_card(plan: list[dict[str, Any]]) -> uuid.UUID:
    step = next(s for s in plan if s["procedure_code"] == "land-pre-review")
    if step["card"] is None or step["status"] != "in_progress":
        raise RuntimeError(f"用地预审 was not dispatched: {step}")
    return uuid.UUID(step["card"]["id"])


async def _case_cards(cases: list[uuid.UUID]) -> list[uuid.UUID]:
    async with connect() as connection:
        rows = await connection.fetch(
            "SELECT c.id FROM routing.card c JOIN unnest($1::uuid[]) WITH ORDINALITY AS w(id, n) "
            "ON w.id = c.case_id ORDER BY w.n",
            cases,
        )
    return [r["id"] for r in rows]


async def _approve(api: Api, cards: list[uuid.UUID], center: str, department: str) -> None:
    for card in cards:
        await api.call("POST", f"/v1/cards/{card}/sign", department)
        await api.call("POST", f"/v1/cards/{card}/complete", department, json={"result": "已办结"})
        await api.call("POST", f"/v1/cards/{card}/review", center, json={"accept": True})


# ------------------------------------------------------------------------------ run


def sizes_for(ctx: Context) -> list[int]:
    if ctx.sizes not in CLI_DEFAULT_SIZES:
        return sorted(ctx.sizes)  # --sizes given
    return list(QUICK_SIZES if ctx.quick else FULL_SIZES)


async def run(ctx: Context) -> None:
    print("  importing the seed org tree and procedure catalogue", flush=True)
    org = await seed_org()
    street_id, street_code, street_path = org.streets[0]
    tokens = {
        "center": staff_token("hs_dispatcher", "dispatcher"),
        "street": staff_token(
            f"{street_code.lower()}_operator", "operator", street_code, street_path
        ),
        "department": staff_token("gh_liaison", "liaison", "DEPT-GH", org.units["DEPT-GH"][1]),
    }
    fresh = FRESH_QUICK if ctx.quick else FRESH_FULL
    repeat = REPEAT_QUICK if ctx.quick else REPEAT_FULL
    per_size: dict[int, dict[str, Any]] = {}
    for n in sizes_for(ctx):
        # The default sizes always run (their growth is the point); larger ones given with
        # --sizes are skipped when they would overrun the time budget.
        if n > max(FULL_SIZES) and per_size and ctx.time_left() < _estimate(per_size, n):
            ctx.note(SECTION, f"skipped {n:,} projects: would take about "
                              f"{_estimate(per_size, n):.0f} s, past the time budget")  # fmt: skip
            continue
        print(
            f"  loading {n:,} projects with their agency cases, steps and cards (COPY)", flush=True
        )
        loaded = await load(n, org, fresh + 1, seed=n % 89)
        print(f"    loaded in {loaded['total_s']} s: {loaded}", flush=True)
        await env.flush_redis()
        uscc = uscc_of(n // 4)  # an enterprise with two projects in the middle of the list
        center = _principal("dispatcher", "HS", "/HS/", "hs_dispatcher")
        street = _principal("operator", street_code, street_path, f"{street_code.lower()}_operator")
        plans = await explain_lists({
            "plain": (center, {}), "stage": (center, {"stage": ["started"]}),
            "level": (center, {"level": ["provincial"]}), "overdue": (center, {"overdue": True}),
            "uscc": (center, {"uscc": uscc}), "street": (street, {}),
        })  # fmt: skip
        port = env.free_port()
        started = env.PROCESSES.spawn("projects-routing-api", env.api_argv("routing", port))
        api = Api(port)
        try:
            await asyncio.to_thread(env.wait_http, f"http://127.0.0.1:{port}/readyz", 60.0, started)
            print(f"    GET /v1/projects, {repeat} times each after a warm-up:", flush=True)
            lists = await measure_lists(api, tokens, uscc, repeat)
            print(
                f"    the agency plan on {fresh} fresh projects, and {fresh} case dispatches:",
                flush=True,
            )
            writes = await measure_writes(api, started.process.pid, tokens, fresh)
        finally:
            await api.close()
            env.PROCESSES.stop(started)
        await env.flush_redis()
        per_size[n] = {"load": loaded, "lists": lists, "explain": plans, "writes": writes}
        _figures(ctx, n, per_size[n])
    ctx.detail(SECTION, "sizes", per_size)
    _growth(ctx, per_size)


def _estimate(per_size: dict[int, dict[str, Any]], n: int) -> float:
    largest = max(per_size)
    return float(per_size[largest]["load"]["total_s"]) * n / largest * 1.3 + 30


def _figures(ctx: Context, n: int, data: dict[str, Any]) -> None:
    lists, plans, writes = data["lists"], data["explain"], data["writes"]
    label = f"{n:,} projects"
    baseline = lists["plain"]["p95"]
    for name, (what, _params) in LIST_VARIANTS.items():
        plan = plans[name]
        ctx.results.add(
            Figure(
                f"projects.{n}.list.{name}",
                SECTION,
                f"GET /v1/projects {what}, {label}: p95 of {lists[name]['count']}",
                lists[name]["p95"],
                "ms",
                baseline=None if name == "plain" else baseline,
                baseline_label=None if name == "plain" else "the plain first page (p95)",
                notes=f"p50 {lists[name]['p50']} ms, {lists[name]['items']} items; plan "
                f"{'reads all of project (Seq Scan)' if plan['seq_scan_project'] else 'no seq scan over project'}"
                f", EXPLAIN ANALYZE {plan['execution_ms']} ms",
                details={"http": lists[name], "explain": plan},
            )
        )
    ctx.note(SECTION, f"{label}: " + "; ".join(
        f"{name} {'Seq Scan on project' if p['seq_scan_project'] else 'no seq scan'} "
        f"({p['execution_ms']} ms)" for name, p in plans.items()))  # fmt: skip
    if any(p["seq_scan_project"] for p in plans.values()):
        ctx.note(SECTION, f"{label}: a Seq Scan on project means the list's keyset order "
                          "(created_at DESC, id DESC) has no index to walk: every first page sorts "
                          "the whole table")  # fmt: skip
    ctx.results.add(
        Figure(
            f"projects.{n}.list.overdue_plan",
            SECTION,
            f"overdue=true does not read all of project, {label} (1 = no Seq Scan on project)",
            0.0 if plans["overdue"]["seq_scan_project"] else 1.0,
            "",
            target=Target(">=", 1, text="no seq scan over project"),
            details={"plan": plans["overdue"]["plan"]},
        )
    )
    dispatch, case_dispatch = writes["plan"], writes["case_dispatch"]
    review, case_review = writes["step_review"], writes["case_review"]
    ctx.results.add(
        Figure(
            f"projects.{n}.steps.plan",
            SECTION,
            f"POST /v1/projects/{{id}}/steps, 3 steps (1 on the spot, 1 dispatched, 1 waiting), "
            f"{label}: p95 of {writes['fresh_projects']}",
            dispatch["p95"],
            "ms",
            baseline=case_dispatch["p95"],
            baseline_label="POST /v1/cases/{id}/dispatch to one department (p95)",
            notes=f"p50 {dispatch['p50']} ms (case dispatch {case_dispatch['p50']} ms); routing API "
            f"CPU {dispatch['api_cpu_ms_per_call']} ms/call (case dispatch "
            f"{case_dispatch['api_cpu_ms_per_call']}), PostgreSQL {dispatch['postgres_cpu_ms_per_call']} "
            f"ms/call ({case_dispatch['postgres_cpu_ms_per_call']})",
            details={"plan": dispatch, "case_dispatch": case_dispatch},
        )
    )
    ctx.results.add(
        Figure(
            f"projects.{n}.steps.cpu",
            SECTION,
            f"Routing API CPU per plan of 3 steps, {label}",
            dispatch["api_cpu_ms_per_call"],
            "ms",
            baseline=case_dispatch["api_cpu_ms_per_call"],
            baseline_label="routing API CPU per case dispatch",
        )
    )
    ctx.results.add(
        Figure(
            f"projects.{n}.steps.review",
            SECTION,
            f"POST /v1/cards/{{id}}/review accepting a step that dispatches its waiting dependant, "
            f"{label}: p95 of {writes['fresh_projects']}",
            review["p95"],
            "ms",
            target=Target(
                "<=", 3.0, relative=True, text="same order as a case dispatch (<= 3x its p95)"
            ),
            baseline=case_dispatch["p95"],
            baseline_label="POST /v1/cases/{id}/dispatch (p95)",
            notes=f"p50 {review['p50']} ms; an ordinary case card's review p95 {case_review['p95']} ms, "
            f"p50 {case_review['p50']} ms; routing API CPU {review['api_cpu_ms_per_call']} ms/call "
            f"(ordinary review {case_review['api_cpu_ms_per_call']}, case dispatch "
            f"{case_dispatch['api_cpu_ms_per_call']}); dependants dispatched "
            f"{writes['dependants_dispatched']}/{writes['fresh_projects']}",
            details={"step_review": review, "case_review": case_review},
        )
    )
    ctx.results.add(
        Figure(
            f"projects.{n}.steps.dependants",
            SECTION,
            f"Approved steps whose waiting dependant was dispatched, {label}",
            float(writes["dependants_dispatched"]),
            "",
            target=Target(">=", writes["fresh_projects"], text=f"all {writes['fresh_projects']}"),
        )
    )


def _growth(ctx: Context, per_size: dict[int, dict[str, Any]]) -> None:
    sizes = sorted(per_size)
    if len(sizes) < 2:
        return
    small, large = sizes[0], sizes[-1]
    factor = large / small
    for name, (what, _params) in LIST_VARIANTS.items():
        before, after = per_size[small]["lists"][name]["p95"], per_size[large]["lists"][name]["p95"]
        ctx.results.add(
            Figure(
                f"growth.projects.list.{name}",
                "growth",
                f"Growth of GET /v1/projects {what} p95, {small:,} → {large:,} projects ({factor:.0f}x data)",
                after / max(before, 1e-9),
                "x",
                target=Target(
                    "<=", GROWTH_LIMIT, text=f"<= {GROWTH_LIMIT}x (cost follows the page)"
                ),
                baseline=factor,
                baseline_label="data growth factor",
                notes=f"{before:.1f} ms → {after:.1f} ms",
            )
        )
    for key, what in (("plan", "POST /v1/projects/{id}/steps"), ("step_review", "step approval")):
        before, after = per_size[small]["writes"][key]["p95"], per_size[large]["writes"][key]["p95"]
        ctx.results.add(
            Figure(
                f"growth.projects.{key}",
                "growth",
                f"Growth of {what} p95, {small:,} → {large:,} projects ({factor:.0f}x data)",
                after / max(before, 1e-9),
                "x",
                baseline=factor,
                baseline_label="data growth factor",
                notes=f"{before:.1f} ms → {after:.1f} ms",
            )
        )
