"""4. Scorecards at scale (and 6. growth): N closed cases over the 12 months of last year, 100
units, loaded into the scoring service's fact tables with COPY, then the service's own functions:

* ``evaluation_service.scorecards(session, month)`` — every unit's monthly scorecard, ranked
  (timed for each month; target ≤ 1 s);
* ``evaluation_service.annual(session, year)`` — the year-end comprehensive evaluation;
* ``statistics_service.figures(session, start, end)`` — the public statistics for the year.

Data: one request fact per case (+3% duplicates with no case), 95% single-unit cases and 5%
lead + co-handler cases, 2% of cards returned and re-dispatched, 80% of cases rated; timeliness,
satisfaction and supervision steps in plausible proportions. Baselines: the cheapest aggregate
that reads the same rows (cards dispatched in the month / year grouped by unit; cases received
in the year grouped by channel and topic).
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, text

from bench import env
from bench.context import Context, connect
from bench.loader import bulk_mode, copy, vacuum_analyze
from bench.results import Figure, Target

SECTION = "scorecards"
UNITS = 100
CHANNELS = (
    ["app"] * 5
    + ["smart_hall"] * 2
    + ["hotline"] * 6
    + ["website", "report_platform", "cppcc_165", "open311"]
)
TOPICS = [
    "land",
    "funds",
    "transport",
    "environment",
    "electricity",
    "water",
    "permit",
    "legal",
    "market_order",
    "other",
]
TYPES = ["complaint"] * 4 + ["help"] * 2 + ["consult", "suggestion", "report", "praise"]
SUBMITTER = orjson.dumps(
    {"kind": "person", "name": "张先生", "phone": "13812345678", "masked": False}
).decode()

CASE_COLUMNS = [
    "case_id",
    "revision",
    "request_id",
    "tracking_no",
    "channel",
    "type",
    "topic",
    "urgency",
    "classification",
    "status",
    "area_code",
    "owner_unit_code",
    "submitter",
    "anonymous",
    "received_at",
    "verified_at",
    "completed_at",
    "closed_at",
    "redo_count",
    "escalated",
]
CARD_COLUMNS = [
    "card_id",
    "case_id",
    "revision",
    "unit_code",
    "unit_name",
    "role",
    "status",
    "dispatched_at",
    "sign_due_at",
    "signed_at",
    "contact_due_at",
    "first_contact_at",
    "original_due_at",
    "due_at",
    "extension_approved",
    "returned_at",
    "submitted_at",
    "approved_at",
    "working_days_taken",
    "redo_count",
    "supervision_level",
    "listed",
    "on_spot",  # a project step done on the spot: never for these complaint cards
]
RATING_COLUMNS = [
    "id",
    "case_id",
    "round",
    "satisfaction",
    "score",
    "resolved",
    "unit_at_fault",
    "source",
    "method",
    "recorded_by",
    "rated_at",
]
REQUEST_COLUMNS = [
    "request_id",
    "tracking_no",
    "channel",
    "type",
    "topic",
    "duplicate",
    "anonymous",
    "submitter_kind",
    "received_at",
]
VISIT_COLUMNS = [
    "id",
    "channel",
    "target_kind",
    "target_key",
    "target_name",
    "visited_on",
    "recorded_by",
]
TABLES = ["case_fact", "card_fact", "rating", "request_fact", "visit_fact"]


def unit_list() -> list[tuple[str, str]]:
    departments = [
        "自然资源和规划局",
        "发展和改革局",
        "交通运输局",
        "住房和城乡建设局",
        "生态环境分局",
        "科学技术和工业信息化局",
        "市场监督管理局",
        "行政审批局",
        "财政局",
        "税务局",
        "人力资源和社会保障局",
        "城市管理综合行政执法局",
    ]
    units = []
    for i in range(UNITS):
        if i < 70:
            units.append(
                (
                    f"DEPT-{i:03d}",
                    f"区{departments[i % len(departments)]}{i // len(departments) or ''}",
                )
            )
        elif i < 95:
            units.append((f"ST-{i:03d}", f"第{i - 69}街道营商环境优化中心"))
        else:
            units.append((f"CO-{i:03d}", f"供电供水公司{i - 94}"))
    return units


def _uuid(rnd: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rnd.getrandbits(128), version=4)


CHUNK = 500_000  # cases generated and COPYed at a time: 10M cases do not fit in memory at once


def generate(
    n: int, year: int, seed: int, lo: int = 0, hi: int | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Cases ``lo`` to ``hi`` of ``n`` (all by default) with their facts; visits with the first."""
    rnd = random.Random(f"{seed}:{lo}")
    units = unit_list()
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # Asia/Shanghai new year
    span = 365 * 86400 - 12 * 86400  # leave time for the last cases to close inside the year
    cases, cards, ratings, requests = [], [], [], []
    hour = timedelta(hours=1)
    day = timedelta(days=1)
    for i in range(lo, n if hi is None else hi):
        case_id, request_id = _uuid(rnd), _uuid(rnd)
        # Facts arrive in time order, so a month's rows sit together on disk as in production.
        received = start + timedelta(seconds=max(0, span * i // n + rnd.randrange(-3600, 3600)))
        channel = CHANNELS[i % len(CHANNELS)]
        topic = TOPICS[rnd.randrange(len(TOPICS))]
        kind = TYPES[i % len(TYPES)]
        tracking = f"YS{seed % 100:02d}{i:012d}"
        dispatched = received + timedelta(hours=rnd.randrange(2, 30))
        lead_unit = units[rnd.randrange(UNITS)]
        handlers = [(lead_unit, "single")]
        if rnd.random() < 0.05:
            co = units[rnd.randrange(UNITS)]
            if co != lead_unit:
                handlers = [(lead_unit, "lead"), (co, "co")]
        if rnd.random() < 0.02:  # returned by a first unit, then re-dispatched
            first = units[rnd.randrange(UNITS)]
            cards.append(
                (
                    _uuid(rnd),
                    case_id,
                    2,
                    first[0],
                    first[1],
                    "single",
                    "returned",
                    dispatched,
                    dispatched + 2 * hour,
                    dispatched + hour,
                    None,
                    None,
                    dispatched + 7 * day,
                    dispatched + 7 * day,
                    False,
                    dispatched + day,
                    None,
                    None,
                    None,
                    0,
                    "none",
                    False,
                )
            )
            dispatched += day + hour
        approved = dispatched
        for (code, name), role in handlers:
            sign_due = dispatched + 2 * hour
            signed = dispatched + timedelta(minutes=rnd.randrange(5, 180))
            contact_due = signed + day
            contact = signed + timedelta(hours=rnd.randrange(1, 30))
            due = dispatched + 7 * day
            extended = rnd.random() < 0.05
            if extended:
                due += 2 * day
            submitted = dispatched + timedelta(hours=rnd.randrange(10, 230))
            card_approved = submitted + timedelta(hours=rnd.randrange(1, 24))
            approved = max(approved, card_approved)
            r = rnd.random()
            level = (
                "escalated"
                if r < 0.002
                else "listed"
                if r < 0.012
                else "red"
                if r < 0.06
                else "yellow"
                if r < 0.16
                else "none"
            )
            redo = 1 if rnd.random() < 0.03 else 0
            cards.append(
                (
                    _uuid(rnd),
                    case_id,
                    6,
                    code,
                    name,
                    role,
                    "approved",
                    dispatched,
                    sign_due,
                    signed,
                    contact_due,
                    contact,
                    due,
                    due,
                    extended,
                    None,
                    submitted,
                    card_approved,
                    rnd.randrange(1, 9),
                    redo,
                    level,
                    level in ("listed", "escalated"),
                )
            )
        completed = approved
        closed = completed + timedelta(hours=rnd.randrange(2, 72))
        redo_count = 1 if rnd.random() < 0.03 else 0
        cases.append(
            (
                case_id,
                8,
                request_id,
                tracking,
                channel,
                kind,
                topic,
                "normal",
                "complex" if rnd.random() < 0.2 else "general",
                "closed",
                None,
                "HS",
                SUBMITTER,
                False,
                received,
                received + hour,
                completed,
                closed,
                redo_count,
                redo_count > 0 and rnd.random() < 0.1,
            )
        )
        requests.append(
            (request_id, tracking, channel, kind, topic, False, False, "person", received)
        )
        if rnd.random() < 0.03:
            requests.append(
                (
                    _uuid(rnd),
                    f"YD{seed % 100:02d}{i:012d}",
                    channel,
                    kind,
                    topic,
                    True,
                    False,
                    "person",
                    received,
                )
            )
        if rnd.random() < 0.8:
            s = rnd.random()
            satisfaction = "satisfied" if s < 0.85 else "basic" if s < 0.95 else "unsatisfied"
            t = rnd.random()
            resolved = True if t < 0.9 else (False if t < 0.95 else None)
            ratings.append(
                (
                    _uuid(rnd),
                    case_id,
                    0,
                    satisfaction,
                    None,
                    resolved,
                    satisfaction == "unsatisfied",
                    "platform",
                    "platform",
                    "submitter",
                    completed + timedelta(hours=rnd.randrange(1, 24)),
                )
            )
    visits = []
    for i in range(max(100, n // 500) if lo == 0 else 0):
        kind = "enterprise" if i % 3 else "merchant"
        visits.append(
            (
                _uuid(rnd),
                "cppcc_165" if i % 4 == 0 else "visit",
                kind,
                f"K{i % (n // 600 + 50):06d}",
                f"企业{i}",
                date(year, 1, 1) + timedelta(days=rnd.randrange(360)),
                "staff:visitor",
            )
        )
    return {
        "case_fact": cases,
        "card_fact": [(*card, False) for card in cards],
        "rating": ratings,
        "request_fact": requests,
        "visit_fact": visits,
    }


COLUMNS = {
    "case_fact": CASE_COLUMNS,
    "card_fact": CARD_COLUMNS,
    "rating": RATING_COLUMNS,
    "request_fact": REQUEST_COLUMNS,
    "visit_fact": VISIT_COLUMNS,
}


async def load(n: int, year: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    generated = 0.0
    rows = dict.fromkeys(TABLES, 0)
    timings: dict[str, Any] = {f"copy_{table}_s": 0.0 for table in TABLES}
    async with connect() as connection:
        await connection.execute("SET synchronous_commit = off")
        # The roll-ups go too: left from a smaller size, they would answer the "from the facts"
        # baseline (tally_state says built) with the smaller size's counts.
        derived = ["unit_month_tally", "figure_day_tally", "tally_state"]
        await connection.execute("TRUNCATE " + ", ".join(f"scoring.{t}" for t in TABLES + derived))
        async with bulk_mode(connection, "scoring", TABLES) as restore:
            for lo in range(0, n, CHUNK):
                began = time.perf_counter()
                data = generate(n, year, seed, lo, min(n, lo + CHUNK))
                generated += time.perf_counter() - began
                for table in TABLES:
                    records = data.pop(table)
                    rows[table] += len(records)
                    timings[f"copy_{table}_s"] += await copy(
                        connection, "scoring", table, COLUMNS[table], iter(records)
                    )
        timings = {key: round(value, 2) for key, value in timings.items()}
        timings.update(restore)
        timings["vacuum_analyze_s"] = round(await vacuum_analyze(connection, "scoring", TABLES), 2)
    return {
        "rows": rows,
        "generate_s": round(generated, 2),
        **timings,
        "total_s": round(time.perf_counter() - started, 2),
    }


def _functions() -> tuple[Any, Any, Any] | str:
    """The evaluation service's functions, or why they are not available in this checkout."""
    try:
        from scoring_service.evaluation.service import Month, evaluation_service
        from scoring_service.evaluation.statistics import statistics_service
    except ImportError as exc:
        return f"scoring_service.evaluation is not importable: {exc}"
    missing = [name for name in ("scorecards", "annual") if not hasattr(evaluation_service, name)]
    if not hasattr(statistics_service, "figures"):
        missing.append("statistics_service.figures")
    if missing:
        return f"scoring_service.evaluation lacks {', '.join(missing)}"
    return Month, evaluation_service, statistics_service


async def _timed(maker: Any, call: Any, repeat: int = 1) -> tuple[float, list[float], Any]:
    times = []
    result = None
    for _ in range(repeat):
        async with maker() as session:
            started = time.perf_counter()
            result = await call(session)
            times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


async def measure(year: int, quick: bool) -> dict[str, Any]:
    from scoring_service.spec import spec
    from services.db import create_engine, service_sessionmaker

    found = _functions()
    if isinstance(found, str):
        return {"unavailable": found}
    month_cls, evaluation, stats = found
    from services.runtime import settle_heap

    settle_heap()  # as the scoring API does once started
    engine = create_engine(env.SA_URL, schema="scoring", pool_size=2)
    maker = service_sessionmaker(spec, engine)
    now = datetime(year + 1, 1, 20, tzinfo=UTC)
    out: dict[str, Any] = {"year": year, "now": now.isoformat()}
    try:
        months = [month_cls(year, m) for m in range(1, 13)]
        # Warm the process (imports, statement compilation) on a month nobody asks for.
        await _timed(maker, lambda s: evaluation.scorecards(s, month_cls(year - 1, 12), now=now))
        out["from_facts"] = await _from_facts(maker, evaluation, stats, months, year, now)
        out["tallies"] = await _build_tallies(maker, months)
        monthly = []
        for month in months if not quick else months[5:7]:
            seconds, _times, result = await _timed(
                maker, lambda s, m=month: evaluation.scorecards(s, m, now=now)
            )
            monthly.append(
                {
                    "month": str(month),
                    "s": round(seconds, 4),
                    "units": len(result.units),
                    "ranked": result.ranked,
                }
            )
            print(
                f"      scorecards {month}: {seconds:.3f} s for {len(result.units)} units",
                flush=True,
            )
        out["monthly"] = monthly
        seconds, times, result = await _timed(
            maker, lambda s: evaluation.annual(s, year, now=now), repeat=1 if quick else 2
        )
        out["annual_s"], out["annual_runs"] = seconds, times
        out["annual_units"] = len(result.units)
        print(f"      annual {year}: {seconds:.3f} s for {len(result.units)} units", flush=True)
        first, last = date(year, 1, 1), date(year, 12, 31)
        seconds, times, result = await _timed(
            maker, lambda s: stats.figures(s, first, last), repeat=2
        )
        out["statistics_s"], out["statistics_runs"] = seconds, times
        out["statistics_collected"] = result.issues_collected
        print(
            f"      public statistics {year}: {seconds:.3f} s ({result.issues_collected} issues collected)",
            flush=True,
        )
        june = months[5]
        seconds, _t, _r = await _timed(
            maker, lambda s: stats.figures(s, date(year, 6, 1), date(year, 6, 30)), repeat=2
        )
        out["statistics_month_s"] = seconds

        async def scalar_rows(sql: str, *args: Any) -> float:
            async with maker() as session:
                started = time.perf_counter()
                await session.execute(text(sql), {f"p{i}": a for i, a in enumerate(args)})
                return time.perf_counter() - started

        month_sql = (
            "SELECT unit_code, count(*) FROM card_fact WHERE dispatched_at >= :p0 AND dispatched_at < :p1 "
            "GROUP BY unit_code"
        )
        out["baseline_month_s"] = statistics.median(
            [await scalar_rows(month_sql, june.start, june.end) for _ in range(3)]
        )
        out["baseline_year_s"] = statistics.median(
            [await scalar_rows(month_sql, months[0].start, months[-1].end) for _ in range(2)]
        )
        stats_sql = (
            "SELECT channel, topic, count(*) FROM case_fact WHERE received_at >= :p0 AND received_at < :p1 "
            "GROUP BY channel, topic"
        )
        out["baseline_statistics_s"] = statistics.median(
            [await scalar_rows(stats_sql, months[0].start, months[-1].end) for _ in range(2)]
        )
        out["explain_month"] = await _explain_scorecards(maker, evaluation, june, now)
        out["jit_off"] = await _without_jit(evaluation, month_cls, year, now, monthly)
    finally:
        await engine.dispose()
    return out


async def _from_facts(
    maker: Any, evaluation: Any, stats: Any, months: list[Any], year: int, now: datetime
) -> dict[str, Any]:
    """The same calls before the roll-ups are built: the evaluation counts every fact of the
    period (as it did before issue 21). The same-run baseline of the roll-up figures."""
    from scoring_service.evaluation import tallies

    async with maker() as session:
        assert not await tallies.ready(session), "roll-ups left from an earlier load"
    june = months[5]
    month_s, _t, _r = await _timed(
        maker, lambda s: evaluation.scorecards(s, june, now=now), repeat=2
    )
    annual_s, _t, _r = await _timed(maker, lambda s: evaluation.annual(s, year, now=now))
    first, last = date(year, 1, 1), date(year, 12, 31)
    statistics_s, _t, _r = await _timed(maker, lambda s: stats.figures(s, first, last))
    print(
        f"      from the facts: {june} {month_s:.3f} s, annual {annual_s:.3f} s, "
        f"statistics {statistics_s:.3f} s",
        flush=True,
    )
    return {"month": str(june), "month_s": month_s, "annual_s": annual_s,
            "statistics_s": statistics_s}  # fmt: skip


async def _build_tallies(maker: Any, months: list[Any]) -> dict[str, Any]:
    """Build the roll-ups from the COPYed facts (what the worker does at its first start
    after the upgrade), then check two months against a recount: they must differ nowhere."""
    from scoring_service.evaluation import tallies
    from scoring_service.models import TallyState

    async with maker() as session:
        await session.execute(text("DELETE FROM tally_state"))
        await session.commit()
        started = time.perf_counter()
        rows = await tallies.rebuild(session)
        rebuild_s = time.perf_counter() - started
    async with maker() as session:
        started = time.perf_counter()
        drift = await tallies.check(session, months[10:12], repair=False)
        check_s = time.perf_counter() - started
        assert await session.get(TallyState, 1) is not None
    print(
        f"      roll-ups built in {rebuild_s:.2f} s ({rows}); two months checked in "
        f"{check_s:.2f} s: {drift} rows differ",
        flush=True,
    )
    return {"rebuild_s": rebuild_s, "check_s": check_s, "drift": drift, **rows}


async def _without_jit(
    evaluation: Any, month_cls: Any, year: int, now: datetime, monthly: list[dict[str, Any]]
) -> dict[str, Any]:
    """The slowest month and the annual evaluation again on connections with ``jit = off``
    (PostgreSQL compiles plans whose estimated cost passes ``jit_above_cost``; for these
    queries the compilation can cost more than it saves)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from scoring_service.spec import spec
    from services.db import service_sessionmaker

    engine = create_async_engine(
        env.SA_URL, connect_args={"server_settings": {"search_path": "scoring", "jit": "off"}}
    )
    maker = service_sessionmaker(spec, engine)
    try:
        worst = max(monthly, key=lambda m: m["s"])
        year_s, month_s = (int(x) for x in worst["month"].split("-"))
        month = month_cls(year_s, month_s)
        seconds, _t, _r = await _timed(
            maker, lambda s: evaluation.scorecards(s, month, now=now), repeat=2
        )
        annual, _t, _r = await _timed(maker, lambda s: evaluation.annual(s, year, now=now))
    finally:
        await engine.dispose()
    print(
        f"      with jit=off: {worst['month']} {seconds:.3f} s, annual {annual:.3f} s", flush=True
    )
    return {"month": worst["month"], "month_s": seconds, "annual_s": annual}


async def _explain_scorecards(
    maker: Any, evaluation: Any, month: Any, now: datetime
) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE of each grouped query behind one monthly scorecard (which indexes they ride)."""
    try:
        from scoring_service.evaluation.repository import EvaluationRepository
    except ImportError:
        return []
    from scoring_service.evaluation.repository import Periods
    from scoring_service.models import UnitMonthTally

    plans = []
    async with maker() as session:
        repository = EvaluationRepository.from_session(session)
        statements = [
            ("tally", select(UnitMonthTally).where(UnitMonthTally.month.in_([str(month)]))),
            *zip(
                ("unsigned", "uncontacted", "unsubmitted"),
                repository._pending_statements(Periods([month.start, month.end]), now),
                strict=True,
            ),
        ]
        for name, statement in statements:
            compiled = statement.compile(
                dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
            )
            args = [compiled.params[p] for p in compiled.positiontup or []]
            raw = await (await session.connection()).get_raw_connection()
            rows = await raw.driver_connection.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), *args
            )
            plan = [r[0] for r in rows]
            execution = next((line for line in plan if line.startswith("Execution Time")), "")
            plans.append({"query": name, "execution": execution, "plan": plan})
    return plans


async def run(ctx: Context) -> None:
    from services.models import utcnow

    year = utcnow().year - 1
    found = _functions()
    per_size: dict[int, dict[str, Any]] = {}
    for n in ctx.sizes:
        if n > 1_000_000 and per_size and ctx.time_left() < _estimate(per_size, n):
            ctx.note(
                SECTION,
                f"skipped {n:,} cases: would take about {_estimate(per_size, n):.0f} s, past the time budget",
            )
            continue
        print(f"  loading {n:,} closed cases of {year} for {UNITS} units with COPY", flush=True)
        loaded = await load(n, year, seed=n % 89)
        print(f"    loaded in {loaded['total_s']} s: {loaded}", flush=True)
        if isinstance(found, str):
            per_size[n] = {"load": loaded, "unavailable": found}
            continue
        per_size[n] = {"load": loaded, **await measure(year, ctx.quick)}
        _figures(ctx, n, per_size[n])
    if isinstance(found, str):
        ctx.note(SECTION, f"not available: {found}; the data generator ran, the timings did not")
    ctx.detail(SECTION, "sizes", per_size)
    _growth(ctx, per_size)
    if 10_000_000 not in per_size and 1_000_000 in per_size:
        ctx.note(
            SECTION,
            f"10,000,000 cases not run: loading alone would take about "
            f"{_estimate(per_size, 10_000_000) / 60:.0f} minutes on this machine "
            "(python -m bench --only scorecards --sizes 10000000 runs it).",
        )


def _estimate(per_size: dict[int, dict[str, Any]], n: int) -> float:
    largest = max(per_size)
    return per_size[largest]["load"]["total_s"] * n / largest * 1.3 + 30


def _figures(ctx: Context, n: int, data: dict[str, Any]) -> None:
    at_scale = n == 1_000_000
    label = f"{n:,} cases"
    monthly = data["monthly"]
    worst = max(monthly, key=lambda m: m["s"])
    median = statistics.median(m["s"] for m in monthly)
    facts = data["from_facts"]
    built = data["tallies"]
    ctx.results.add(
        Figure(
            f"scorecards.{n}.monthly",
            SECTION,
            f"Monthly scorecards, all {UNITS} units, {label} (slowest month, {worst['month']})",
            worst["s"],
            "s",
            target=Target("<=", 0.2, text="<= 200 ms") if at_scale else None,
            baseline=facts["month_s"],
            baseline_label=f"{facts['month']} counted from the facts, no roll-ups (same run)",
            notes=f"median month {median * 1000:.0f} ms; cards of one month grouped by unit "
            f"(SQL) {data['baseline_month_s'] * 1000:.1f} ms",
            details={"months": monthly},
        )
    )
    ctx.results.add(
        Figure(
            f"scorecards.{n}.annual",
            SECTION,
            f"Year-end evaluation, {UNITS} units × 12 months, {label}",
            data["annual_s"],
            "s",
            target=Target("<=", 1.0, text="<= 1 s") if at_scale else None,
            baseline=facts["annual_s"],
            baseline_label="counted from the facts, no roll-ups (same run)",
            notes=f"cards of the year grouped by unit (SQL) {data['baseline_year_s'] * 1000:.0f} ms",
        )
    )
    ctx.results.add(
        Figure(
            f"scorecards.{n}.statistics",
            SECTION,
            f"Public statistics for the year, {label}, uncached",
            data["statistics_s"],
            "s",
            target=Target("<=", 0.2, text="<= 200 ms") if at_scale else None,
            baseline=facts["statistics_s"],
            baseline_label="counted from the facts, no roll-ups (same run)",
            notes=f"one month: {data['statistics_month_s'] * 1000:.0f} ms; cases of the year "
            f"grouped by channel and topic (SQL) {data['baseline_statistics_s'] * 1000:.0f} ms",
        )
    )
    ctx.results.add(
        Figure(
            f"scorecards.{n}.tallies_rebuild",
            SECTION,
            f"Roll-ups built from {label} (the worker's first start after the upgrade)",
            built["rebuild_s"],
            "s",
            notes=f"{built['unit_rows']:,} unit-month rows, {built['figure_rows']:,} "
            f"day-channel-topic rows",
        )
    )
    ctx.results.add(
        Figure(
            f"scorecards.{n}.tallies_drift",
            SECTION,
            f"Roll-up rows that differ from a recount of two months, {label}",
            built["drift"],
            "rows",
            target=Target("<=", 0, text="0"),
            notes=f"recount and compare in {built['check_s']:.2f} s (the nightly check)",
        )
    )
    jit = data.get("jit_off")
    if jit:
        ctx.results.add(
            Figure(
                f"scorecards.{n}.monthly_jit_off",
                SECTION,
                f"Monthly scorecards {jit['month']}, {label}, on connections with jit = off",
                jit["month_s"],
                "s",
                baseline=worst["s"],
                baseline_label="same month, server default (jit on)",
                notes=f"annual with jit off: {jit['annual_s']:.2f} s",
            )
        )
    plans = data.get("explain_month") or []
    if plans:
        ctx.note(
            SECTION,
            f"{label}, one month's scorecard queries: "
            + "; ".join(
                f"{p['query']} {p['execution'].replace('Execution Time: ', '')}" for p in plans
            ),
        )


def _growth(ctx: Context, per_size: dict[int, dict[str, Any]]) -> None:
    sizes = sorted(n for n in per_size if "monthly" in per_size[n])
    if len(sizes) < 2:
        return
    small, large = sizes[0], sizes[-1]
    factor = large / small
    for key, getter, what in (
        (
            "monthly",
            lambda n: statistics.median(m["s"] for m in per_size[n]["monthly"]),
            "monthly scorecards",
        ),
        ("annual", lambda n: per_size[n]["annual_s"], "year-end evaluation"),
        ("statistics", lambda n: per_size[n]["statistics_s"], "public statistics"),
        ("load", lambda n: per_size[n]["load"]["total_s"], "COPY load"),
    ):
        ratio = getter(large) / max(getter(small), 1e-9)
        ctx.results.add(
            Figure(
                f"growth.scorecards.{key}",
                "growth",
                f"Growth of the {what}, {small:,} → {large:,} cases ({factor:.0f}x data)",
                ratio,
                "x",
                target=Target("<=", 1.5, text="<= 1.5x") if key == "monthly" else None,
                baseline=factor,
                baseline_label="data growth factor",
                notes=f"{getter(small):.3f} s → {getter(large):.3f} s",
            )
        )
