"""Chinese substring search (issue 17): ``GET /v1/staff/requests?q=`` over N requests.

N requests (1,000,000 in a full run) are COPYed into ``intake.issue`` with the bigrams intake
itself computes (``searchable_grams``: title, tracking number and, for unprotected requests, the
enterprise name, address, description, each tagged with its relevance tier), then the real intake API process answers a staff
token's searches over HTTP: two-character and four-character queries of very different
selectivity (from a few hundred to tens of thousands of matches), each asked several times, in
the default order (relevance, then newest) and newest first. The text is the load generator's
(seven topics, varied sentences, ten places) plus an enterprise name for 40% of the requests, so
common words are common, as they are in a district's traffic.

Baseline: the same endpoint's first page without ``q`` (an index range on ``received_at``).
Whether the bigram GIN index served the searches is read from ``pg_stat_user_indexes``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import env
from bench.context import Context, connect
from bench.loader import bulk_mode, copy, vacuum_analyze
from bench.org import staff_token
from bench.results import Figure, Target
from bench.stats import percentile, summarize
from bench.workload import Workload

SECTION = "search"
INDEX = "ix_issue_search_grams"
CHUNK = 50_000
REPEAT = 15  # each query this many times, after one warm-up
# Two-character queries (the most common: 停水, 公交 …) and four-character ones.
QUERIES_2 = ("公交", "停水", "噪音", "融资", "路灯", "恒达")
QUERIES_4 = ("公交班次", "不动产权", "污水管网", "施工许可", "扬尘污染", "恒达制药")
# Enterprise names: two characters of a brand and an industry (恒达制药有限公司 …).
BRAND = "恒达华润泰兴盛鑫宏远金源德利新瑞祥和中天永安嘉诚联创博海"
INDUSTRY = ("科技", "制药", "物流", "机械", "食品", "建材", "纺织", "电子", "化工", "商贸")
COLUMNS = ["id", "tracking_no", "tracking_secret_hash", "channel", "type", "topic",
           "topic_suggested", "topic_confidence", "urgency", "title", "description", "address",
           "lat", "lon", "submitter_kind", "submitter_name", "submitter_phone", "uscc",
           "enterprise_name", "submitter_key", "anonymous", "confidential", "status",
           "expected_provisional", "received_at", "updated_at", "search_grams"]  # fmt: skip


def _records(start: int, count: int, total: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    from services.search import field_grams

    workload = Workload(seed=start + 17, phone_base=700_000_000 + start)
    rnd = random.Random(start)
    secret = hashlib.sha256(b"bench").hexdigest()
    for i in range(start, start + count):
        body = workload.submission(i)
        phone = body["submitter"]["phone"]
        location = body.get("location") or {}
        enterprise = None
        uscc = None
        kind = "person"
        if rnd.random() < 0.4:
            kind = "enterprise"
            a, b = rnd.sample(range(len(BRAND)), 2)
            enterprise = f"{BRAND[a]}{BRAND[b]}{rnd.choice(INDUSTRY)}有限公司"
            uscc = f"91130402{i:09d}X"[:18]
        protected = i % 50 == 0  # 2% confidential reports: their enterprise is not indexed
        tracking_no = f"YS{i:014d}"
        received = now - timedelta(seconds=int(730 * 86400 * (total - i) / total))
        # The tiers of intake's SEARCH_FIELDS: title, tracking number and enterprise, address, text.
        searchable = field_grams([body["title"]], [tracking_no, None if protected else enterprise],
                                 [location.get("address")], [body["description"]])  # fmt: skip
        yield (uuid.UUID(int=rnd.getrandbits(128), version=4), tracking_no, secret, "app",
               "report" if protected else body["type"], workload.last_topic, True, 0.8, "normal",
               body["title"], body["description"], location.get("address"), location.get("lat"),
               location.get("lon"), kind, body["submitter"]["name"], phone, uscc, enterprise,
               hashlib.sha256(f"person:{phone}".encode()).hexdigest(), False, protected,
               "received", False, received, received, searchable)  # fmt: skip


async def load(n: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    copied = 0.0
    async with connect() as connection:
        await connection.execute("SET synchronous_commit = off")
        await env.truncate("intake", ["issue_history", "issue_attachment", "issue_supplement",
                                      "outbox_event", "idempotency_record", "issue"])  # fmt: skip
        async with bulk_mode(connection, "intake", ["issue"]) as timings:
            for start in range(0, n, CHUNK):
                # Generated a chunk at a time: a million rows of bigram lists at once would
                # hold gigabytes.
                records = list(_records(start, min(CHUNK, n - start), n, now))
                copied += await copy(connection, "intake", "issue", COLUMNS, records)
        vacuum = await vacuum_analyze(connection, "intake", ["issue"])
        size = await connection.fetchval(f"SELECT pg_relation_size('intake.\"{INDEX}\"')")
        avg_grams = await connection.fetchval(
            "SELECT avg(cardinality(search_grams)) FROM (SELECT search_grams FROM intake.issue "
            "LIMIT 10000) s"
        )
    return {
        "rows": n,
        "copy_s": round(copied, 2),
        **timings,
        "vacuum_analyze_s": round(vacuum, 2),
        "index_mb": round(size / 2**20, 1),
        "grams_per_row": round(float(avg_grams or 0), 1),
        "total_s": round(time.perf_counter() - started, 2),
    }


async def _index_scans() -> int:
    async with connect() as connection:
        value = await connection.fetchval(
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'intake' "
            "AND indexrelname = $1",
            INDEX,
        )
    return int(value or 0)


async def _matches(query: str) -> int:
    """How many requests hold the query (what the search has to rank), counted directly."""
    pattern = f"%{query}%"
    async with connect() as connection:
        value = await connection.fetchval(
            "SELECT count(*) FROM intake.issue WHERE title LIKE $1 OR description LIKE $1 "
            "OR address LIKE $1 OR (NOT confidential AND enterprise_name LIKE $1)",
            pattern,
        )
    return int(value or 0)


async def measure(port: int) -> dict[str, Any]:
    import httpx

    token = staff_token("hs_operator", "operator")
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {"queries": {}}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
    ) as client:

        async def ask(params: dict[str, str]) -> tuple[float, int]:
            started = time.perf_counter()
            response = await client.get("/v1/staff/requests", params=params)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"search {params} answered {response.status_code}: "
                                   f"{response.text[:300]}")  # fmt: skip
            return elapsed, len(response.json()["items"])

        baseline = []
        await ask({"limit": "50"})
        for _ in range(REPEAT):
            baseline.append((await ask({"limit": "50"}))[0])
        out["no_query_ms"] = summarize(baseline)
        scans_before = await _index_scans()
        for query in (*QUERIES_2, *QUERIES_4):
            per_sort: dict[str, Any] = {"matches": await _matches(query)}
            for sort in ("relevance", "-received"):
                params = {"q": query, "limit": "50", "sort": sort}
                await ask(params)  # warm-up: the first read of a posting list comes from disk
                times = []
                for _ in range(REPEAT):
                    elapsed, items = await ask(params)
                    times.append(elapsed)
                per_sort[sort] = {**summarize(times), "items": items, "samples_ms": times}
            out["queries"][query] = per_sort
            print(f"      {query}: {per_sort['matches']:,} matches, p95 relevance "
                  f"{per_sort['relevance']['p95']} ms, newest first {per_sort['-received']['p95']} ms",
                  flush=True)  # fmt: skip
        out["index_scans"] = await _index_scans() - scans_before
    return out


async def run(ctx: Context) -> None:
    n = 100_000 if ctx.quick else 1_000_000
    print(f"  loading {n:,} requests with their bigrams (COPY, then the GIN index)", flush=True)
    loaded = await load(n)
    print(f"    loaded in {loaded['total_s']} s: {loaded}", flush=True)
    port = env.free_port()
    started = env.PROCESSES.spawn("search-intake-api", env.api_argv("intake", port))
    try:
        await asyncio.to_thread(env.wait_http, f"http://127.0.0.1:{port}/readyz", 60.0, started)
        measured = await measure(port)
    finally:
        env.PROCESSES.stop(started)
    ctx.detail(SECTION, "load", loaded)
    ctx.detail(SECTION, "measured", measured)
    _figures(ctx, n, measured)


def _figures(ctx: Context, n: int, data: dict[str, Any]) -> None:
    baseline = data["no_query_ms"]["p95"]
    at_scale = n == 1_000_000
    for length, queries in ((2, QUERIES_2), (4, QUERIES_4)):
        for sort, what in (("relevance", "by relevance"), ("-received", "newest first")):
            # p95 over every request of every query of this length: the slowest query counts.
            times = sorted(t for q in queries for t in data["queries"][q][sort]["samples_ms"])
            matches = {q: data["queries"][q]["matches"] for q in queries}
            slowest = max(queries, key=lambda q: data["queries"][q][sort]["p95"])
            ctx.results.add(
                Figure(
                    f"search.{n}.q{length}.{sort.strip('-')}",
                    SECTION,
                    f"Search, {length}-character queries {what}, {n:,} requests: p95 of "
                    f"{len(queries)} queries × {REPEAT}",
                    percentile(times, 95),
                    "ms",
                    target=Target("<=", 100, text="p95 <= 100 ms")
                    if at_scale and sort == "relevance"
                    else None,
                    baseline=baseline,
                    baseline_label="the same list's first page without q (p95)",
                    notes=f"slowest {slowest} ({matches[slowest]:,} matches, p95 "
                    f"{data['queries'][slowest][sort]['p95']} ms); matches per query: "
                    + ", ".join(f"{q} {m:,}" for q, m in matches.items()),
                    details={q: data["queries"][q][sort] for q in queries},
                )
            )
    ctx.results.add(
        Figure(
            f"search.{n}.index",
            SECTION,
            f"Searches served by {INDEX} (GIN scans during the run; 0 = never used)",
            float(data["index_scans"]),
            "",
            target=Target(">=", 1, text="index used"),
        )
    )
