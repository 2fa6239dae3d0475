"""1. Intake throughput against the database's own limit.

Baseline: pgbench with a custom script inserting one row into a copy of ``intake.issue`` (same
columns, same indexes: ``CREATE TABLE … (LIKE intake.issue INCLUDING ALL)``) and committing, at
concurrency 16 and 64. Then the real ``POST /v1/requests`` through the running intake API (and
the Open311 POST), from the load generator in its own process, at the same concurrency, for a few
server configurations; then an open-loop run at half of the best peak for its p99, with pgbench
throttled to the same rate as that figure's baseline.

No consumer runs during these measurements: events stay queued in Redis (flushed between runs),
so the figure is what the API and the database do. Tables are emptied before every run.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import env
from bench.context import Context, checkpoint, connect, db_counters, delta
from bench.results import Figure, Target
from bench.stats import summarize

SECTION = "intake"

PGBENCH_TABLE = """
CREATE SCHEMA IF NOT EXISTS bench;
DROP TABLE IF EXISTS bench.submission;
CREATE TABLE bench.submission (LIKE intake.issue INCLUDING ALL);
"""

# One submission-shaped row per transaction (autocommit: the INSERT is the transaction).
PGBENCH_SCRIPT = """\\set p random(1, 999999999)
INSERT INTO bench.submission (id, tracking_no, tracking_secret_hash, channel, type, topic,
  topic_suggested, topic_confidence, urgency, title, description, address, lat, lon,
  submitter_kind, submitter_name, submitter_phone, submitter_key, anonymous, confidential,
  status, expected_provisional, received_at, updated_at, status_changed_at)
VALUES (gen_random_uuid(), 'YS' || substr(md5(random()::text), 1, 14),
  md5(random()::text) || md5(random()::text), 'app', 'complaint', 'transport', true, 0.87,
  'normal', '园区公交班次太少',
  '邯山经济开发区早晚高峰公交车很挤,员工上下班困难,希望增加公交班次,延伸公交线路到园区。第12号。',
  '邯山区邯山经济开发区', 36.58, 114.51, 'person', '张先生', '13' || lpad(:p::text, 9, '0'),
  md5(:p::text) || md5(random()::text), false, false, 'received', false, now(), now(), now());
"""

RATE_LIMITS_OFF = {"INTAKE_RATE_SUBMIT_PER_KEY": "0", "INTAKE_RATE_SUBMIT_PER_IP": "0"}
INTAKE_TABLES = None  # all of the intake schema


@dataclass
class ServerConfig:
    name: str
    workers: int = 1
    fast: bool = True
    env: dict[str, str] = field(default_factory=dict)
    # A configuration that measures a cost but never ships (field encryption off) is not a
    # candidate for "best".
    app: str = "intake_service.app:app"
    ships: bool = True


def unsealed(config: ServerConfig) -> ServerConfig:
    """``config`` with field encryption off (bench/plaintext.py): the same run's "before"."""
    return ServerConfig(f"{config.name}, field encryption off", config.workers, config.fast,
                        dict(config.env), app="bench.plaintext:app", ships=False)  # fmt: skip


def configs(quick: bool) -> list[ServerConfig]:
    fast2 = ServerConfig("2 workers, uvloop+httptools", workers=2, env=dict(RATE_LIMITS_OFF))
    if quick:
        return [fast2, unsealed(fast2)]
    return [
        unsealed(fast2),
        ServerConfig("1 worker, asyncio+h11", workers=1, fast=False, env=dict(RATE_LIMITS_OFF)),
        ServerConfig("1 worker, uvloop+httptools", workers=1, env=dict(RATE_LIMITS_OFF)),
        fast2,
        ServerConfig(
            "2 workers, uvloop+httptools, DB pool 32 + 0 overflow",
            workers=2,
            env={**RATE_LIMITS_OFF, "INTAKE_DB_POOL_SIZE": "32", "INTAKE_DB_MAX_OVERFLOW": "0"},
        ),
        ServerConfig(
            "2 workers, uvloop+httptools, group commit off",
            workers=2,
            env={**RATE_LIMITS_OFF, "INTAKE_GROUP_COMMIT_MAX": "0"},
        ),
        ServerConfig(
            "2 workers, uvloop+httptools, pool pre-ping on",
            workers=2,
            env={**RATE_LIMITS_OFF, "DB_POOL_PRE_PING": "true"},
        ),
        ServerConfig(
            "2 workers, uvloop+httptools, rate limiter counting",
            workers=2,
            env={
                "INTAKE_RATE_SUBMIT_PER_KEY": "1000000000",
                "INTAKE_RATE_SUBMIT_PER_IP": "1000000000",
            },
        ),
    ]


# ------------------------------------------------------------------------------ pgbench


def _pgbench(concurrency: int, duration: float, rate: float | None = None) -> dict[str, Any]:
    path = env.pgbench_path()
    if path is None:
        raise RuntimeError("pgbench not found (Debian: apt-get install postgresql-client)")
    script = env.LOG_DIR / "pgbench_submission.sql"
    script.write_text(PGBENCH_SCRIPT)
    prefix = env.LOG_DIR / f"pgb_{concurrency}_{int(time.time() * 1000)}"
    argv = [
        path,
        "-h",
        env.PG_HOST,
        "-p",
        str(env.PG_PORT),
        "-U",
        env.PG_USER,
        "-n",
        "-M",
        "prepared",
        "-f",
        str(script),
        "-c",
        str(concurrency),
        "-j",
        "2",
        "-T",
        str(int(duration)),
        "-l",
        f"--log-prefix={prefix}",
        env.DB_NAME,
    ]
    if rate:
        argv[1:1] = ["-R", f"{rate:.1f}"]
    stdout, cpu = _run_sampled(argv, duration + 60)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", stdout)
    tps = float(match.group(1)) if match else float("nan")
    latencies: list[float] = []
    first_second: float | None = None
    rows: list[tuple[float, float]] = []
    for file in glob.glob(f"{prefix}.*"):
        with open(file) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 6 and parts[2] != "skipped":
                    rows.append((int(parts[4]) + int(parts[5]) / 1e6, int(parts[2]) / 1000))
        Path(file).unlink(missing_ok=True)
    if rows:
        first_second = min(r[0] for r in rows) + 1.0  # leave out connection start-up
        latencies = [lat for at, lat in rows if at >= first_second]
    failed = re.search(r"number of failed transactions: (\d+)", stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", stdout)
    transactions = int(processed.group(1)) if processed else 0
    per_tx = {
        key: round(seconds / transactions * 1000, 4) if transactions else None
        for key, seconds in cpu.items()
    }
    per_tx["total"] = round(sum(v for v in per_tx.values() if v), 4)
    return {
        "concurrency": concurrency,
        "rate_target": rate,
        "tps": tps,
        "transactions": transactions,
        "latency_ms": summarize(latencies),
        "failed": int(failed.group(1)) if failed else 0,
        "cpu_ms_per_transaction": per_tx,
    }


def _run_sampled(argv: list[str], timeout: float) -> tuple[str, dict[str, float]]:
    """Run pgbench, sampling the CPU of its database backends while they live (they exit with
    it) and taking its own CPU from wait4. Returns (stdout, CPU seconds by process kind)."""
    import tempfile

    before = env.infrastructure()
    last: dict[int, tuple[str, float]] = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        rusage = None
        while time.monotonic() < deadline:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            last.update(env.infrastructure())
            time.sleep(0.2)
        else:
            process.kill()
            process.wait()
            raise RuntimeError("pgbench did not finish in time")
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"pgbench failed: {stderr[-1000:]}")
    cpu = {"postgres": 0.0, "pgbench": 0.0}
    for pid, (kind, seconds) in last.items():
        if kind == "postgres":
            cpu["postgres"] += seconds - before.get(pid, (kind, 0.0))[1]
    if rusage is not None:
        cpu["pgbench"] = rusage.ru_utime + rusage.ru_stime
    return stdout, cpu


async def pgbench(concurrency: int, duration: float, rate: float | None = None) -> dict[str, Any]:
    async with connect() as connection:
        await connection.execute("TRUNCATE bench.submission")
    await checkpoint()
    return await asyncio.to_thread(_pgbench, concurrency, duration, rate)


# ------------------------------------------------------------------------------ HTTP


def _loadgen(config: dict[str, Any]) -> dict[str, Any]:
    timeout = float(config.get("warmup", 2)) + float(config.get("duration", 10)) + 90
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=env.ROOT,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


class Server:
    """The intake API as ``workers`` single-process uvicorn servers on their own ports, with the
    load generator spreading its connections over them as a load balancer spreads them over
    replicas. (uvicorn's ``--workers`` share one listening socket, and the kernel may hand every
    keep-alive connection of a short run to one of them, so that only one core works.)"""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.ports = [env.free_port() for _ in range(config.workers)]
        self.started: list[env.Started] = []

    async def __aenter__(self) -> Server:
        for index, port in enumerate(self.ports):
            argv = env.api_argv("intake", port, fast=self.config.fast, app=self.config.app)
            started = env.PROCESSES.spawn(f"intake-api-{index}", argv, self.config.env)
            self.started.append(started)
            await asyncio.to_thread(env.wait_http, f"http://127.0.0.1:{port}/readyz", 60.0, started)
        return self

    async def preflight(self, api_key: str, kind: str = "json") -> None:
        """One real submission before timing anything: a broken build fails loudly here."""
        await preflight(self.ports[0], api_key, kind)

    async def __aexit__(self, *exc: object) -> None:
        for started in self.started:
            await asyncio.to_thread(env.PROCESSES.stop, started)

    @property
    def pids(self) -> dict[str, int]:
        return {f"api{i}": started.process.pid for i, started in enumerate(self.started)}


_phone_base = int(time.time()) % 10**6 * 1000
HISTORY = 20_000  # requests already received in the last 30 days, as a running district has
INTAKE_TABLES = ["issue_history", "issue_attachment", "issue_supplement", "outbox_event",
                 "idempotency_record", "issue"]  # fmt: skip


_seeded_count = 0


async def seed_history(count: int = HISTORY) -> None:
    """Keep ``count`` requests of the last 29 days (all topics, distinct submitters) in
    ``bench.issue_seed``: the duplicate and related-request checks of a submission read the
    recent history, so an empty table would flatter every figure."""
    import hashlib
    import secrets
    import uuid
    from datetime import UTC, datetime, timedelta

    from bench.loader import copy
    from bench.workload import Workload

    workload = Workload(seed=97, phone_base=900_000_000)
    now = datetime.now(UTC)
    records = []
    for i in range(count):
        body = workload.submission(i)
        topic = workload.last_topic
        phone = body["submitter"]["phone"]
        received = now - timedelta(seconds=int(29 * 86400 * (count - i) / count))
        location = body.get("location") or {}
        records.append((uuid.uuid4(), f"YH{i:014d}", secrets.token_hex(32), "app", body["type"], topic, True,
                        0.8, "normal", body["title"], body["description"], location.get("address"),
                        location.get("lat"), location.get("lon"), "person", body["submitter"]["name"], phone,
                        hashlib.sha256(f"person:{phone}".encode()).hexdigest(), False, False, "received",
                        False, received, received, received))  # fmt: skip
    columns = ["id", "tracking_no", "tracking_secret_hash", "channel", "type", "topic", "topic_suggested",
               "topic_confidence", "urgency", "title", "description", "address", "lat", "lon",
               "submitter_kind", "submitter_name", "submitter_phone", "submitter_key", "anonymous",
               "confidential", "status", "expected_provisional", "received_at", "updated_at",
               "status_changed_at"]  # fmt: skip
    await env.truncate("intake", INTAKE_TABLES)
    async with connect() as connection:
        await copy(connection, "intake", "issue", columns, records)
    del records
    await _seal_as_stored()
    async with connect() as connection:
        await connection.execute(
            "CREATE SCHEMA IF NOT EXISTS bench; DROP TABLE IF EXISTS bench.issue_seed; "
            "CREATE TABLE bench.issue_seed (LIKE intake.issue INCLUDING DEFAULTS); "
            "INSERT INTO bench.issue_seed SELECT * FROM intake.issue"
        )
    global _seeded_count
    _seeded_count = count


async def _seal_as_stored() -> None:
    """Seal the COPYed history and fill its blind indexes with the services' own background
    migration, so the history is stored as the services store requests: plain rows would make
    every worker's sealing sweep work through them during the measured runs, and leave the
    blind-index duplicate checks nothing to find."""
    from intake_service.models import Issue
    from intake_service.spec import spec
    from services.db import create_engine, service_sessionmaker
    from services.encryption import sweep

    engine = create_engine(env.SA_URL, schema="intake", pool_size=2)
    try:
        maker = service_sessionmaker(spec, engine)
        while (await sweep(maker, [Issue], run_seconds=600, batch=2000)).sealed:
            pass
    finally:
        await engine.dispose()


async def restore_history(count: int = HISTORY) -> None:
    """Empty intake's tables and put ``count`` requests of history back (before every measured
    run)."""
    if _seeded_count != count:
        await seed_history(count)
    await env.truncate("intake", INTAKE_TABLES)
    async with connect() as connection:
        await connection.execute("INSERT INTO intake.issue SELECT * FROM bench.issue_seed")
        await connection.execute("ANALYZE intake.issue")


async def preflight(port: int, api_key: str, kind: str = "json") -> None:
    import httpx

    from bench.workload import Workload

    workload = Workload(seed=1, phone_base=_phone_base + 999_999)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        if kind == "open311":
            response = await client.post(
                "/open311/v2/requests.json",
                content=workload.open311_form(0, api_key),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            expected = 200
        else:
            response = await client.post(
                "/v1/requests",
                content=workload.json_body(0),
                headers={"X-API-Key": api_key, "content-type": "application/json"},
            )
            expected = 201
    if response.status_code != expected:
        raise RuntimeError(
            f"preflight {kind} submission answered {response.status_code}: {response.text[:500]}"
        )


async def drive(server: Server, load: dict[str, Any], *, history: int = HISTORY) -> dict[str, Any]:
    """One load-generator run against the seeded intake schema (:func:`restore_history`); adds
    CPU and database accounting."""
    global _phone_base
    await restore_history(history)
    await env.flush_redis()
    await checkpoint()
    _phone_base += 1_000_000
    config = {"ports": server.ports, "phone_base": _phone_base, "seed": _phone_base, **load}
    before = await db_counters()
    with env.cpu_meter(server.pids) as cpu:
        result = await asyncio.to_thread(_loadgen, config)
    api_cpu_s = sum(cpu["process_cpu_s"].values())
    after = await db_counters()
    done = max(result["completed_total"], 1)
    result["server_cpu_ms_per_request"] = round(api_cpu_s / done * 1000, 2)
    result["postgres_cpu_ms_per_request"] = round(cpu["postgres_cpu_s"] / done * 1000, 2)
    result["postgres_background_ms_per_request"] = round(
        cpu["postgres_background_cpu_s"] / done * 1000, 2
    )
    result["redis_cpu_ms_per_request"] = round(cpu["redis_cpu_s"] / done * 1000, 2)
    result["machine_busy"] = cpu["machine_busy"]
    result["foreign_share"] = env.foreign_share(cpu, result["client_cpu_s"])
    result["api_cpu_share"] = round(api_cpu_s / max(cpu["wall_s"], 0.001), 2)
    result["db_per_request"] = delta(after, before, done)
    return result


def _describe(result: dict[str, Any]) -> str:
    lat = result["latency_ms"]
    return (
        f"{result['ok_per_s']:.0f}/s p50 {lat.get('p50')} p95 {lat.get('p95')} p99 {lat.get('p99')} ms; "
        f"API {result['server_cpu_ms_per_request']} ms CPU/req ({result['api_cpu_share']} cores), "
        f"PostgreSQL {result['postgres_cpu_ms_per_request']} (+{result['postgres_background_ms_per_request']} background) ms CPU/req, "
        f"Redis {result['redis_cpu_ms_per_request']} ms CPU/req, machine busy {result['machine_busy']:.0%} "
        f"(others {result['foreign_share']:.0%}), load generator {result['client_cpu_us_per_request']} µs CPU/req; statuses {result['statuses']}"
        + (f"; errors {result['errors']}" if result["errors"] else "")
    )


async def _keys() -> str:
    from intake_service.spec import spec
    from services.cli import _create_key

    created = await _create_key(spec, "bench channel", "*", env.SA_URL)
    return created["api_key"]


async def run(ctx: Context) -> None:
    quick = ctx.quick
    warmup, duration = (1.0, 3.0) if quick else (2.0, 6.0)
    concurrencies = (16, 64)
    async with connect() as connection:
        await connection.execute(PGBENCH_TABLE)
    await seed_history()

    print("pgbench baseline (single-row insert + commit into a copy of intake.issue)", flush=True)
    baseline = {c: await pgbench(c, duration) for c in concurrencies}
    for c, b in baseline.items():
        ctx.results.add(
            Figure(
                f"intake.pgbench.c{c}",
                SECTION,
                f"pgbench insert+commit, c={c}",
                b["tps"],
                "tps",
                details=b,
                notes=f"p50 {b['latency_ms'].get('p50')} / p99 {b['latency_ms'].get('p99')} ms",
            )
        )
    ctx.detail(SECTION, "pgbench", baseline)

    api_key = await _keys()
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for config in configs(quick):
        print(f"POST /v1/requests — {config.name}", flush=True)
        runs[config.name] = {}
        async with Server(config) as server:
            await server.preflight(api_key)
            for c in concurrencies:
                load = {
                    "api_key": api_key,
                    "mode": "closed",
                    "concurrency": c,
                    "warmup": warmup,
                    "duration": duration,
                }
                result = await drive(server, load)
                runs[config.name][c] = result
                print(f"    c={c}: {_describe(result)}", flush=True)
    ctx.detail(SECTION, "configurations", runs)

    for name, by_c in runs.items():
        for c, result in by_c.items():
            ctx.results.add(
                Figure(
                    f"intake.config.{_slug(name)}.c{c}",
                    SECTION,
                    f"POST /v1/requests c={c}: {name}",
                    result["ok_per_s"],
                    "/s",
                    baseline=baseline[c]["tps"],
                    baseline_label=f"pgbench c={c}",
                    notes=_short(result),
                    details=result,
                )
            )

    shipped = {c.name: runs[c.name] for c in configs(quick) if c.ships}
    best_name = max(shipped, key=lambda name: sum(r["ok_per_s"] for r in shipped[name].values()))
    _encryption_cost(ctx, runs, quick)
    best = next(c for c in configs(quick) if c.name == best_name)
    ctx.detail(SECTION, "best_configuration", best_name)
    ratio_target = Target(">=", 0.5, relative=True, text=">= 0.5 x pgbench")
    for c in concurrencies:
        result = shipped[best_name][c]
        ctx.results.add(
            Figure(
                f"intake.rate.c{c}",
                SECTION,
                f"Intake submissions/s at c={c} (best: {best_name})",
                result["ok_per_s"],
                "/s",
                target=ratio_target,
                baseline=baseline[c]["tps"],
                baseline_label=f"pgbench insert+commit c={c}",
                details=result,
            )
        )
        ctx.results.add(_cpu_ratio(c, result, baseline[c], ratio_target))
        for figure in _cpu_targets(c, best_name, result, baseline[c]):
            ctx.results.add(figure)
        for q in ("p50", "p95", "p99"):
            ctx.results.add(
                Figure(
                    f"intake.peak.c{c}.{q}",
                    SECTION,
                    f"Intake {q} at peak, c={c}",
                    result["latency_ms"].get(q, float("nan")),
                    "ms",
                    baseline=baseline[c]["latency_ms"].get(q),
                    baseline_label=f"pgbench {q} c={c}",
                )
            )

    print(f"half of peak (open loop) and Open311 — {best_name}", flush=True)
    async with Server(best) as server:
        await server.preflight(api_key, "open311")
        for c in concurrencies:
            peak = shipped[best_name][c]["ok_per_s"]
            rate = max(1.0, round(peak / 2, 1))
            load = {
                "api_key": api_key,
                "mode": "open",
                "rate": rate,
                "concurrency": c,
                "warmup": warmup,
                "duration": duration,
            }
            result = await drive(server, load)
            pg = await pgbench(c, duration, rate=rate)
            print(
                f"    half peak c={c} at {rate}/s: {_describe(result)}; pgbench -R {rate}: p99 {pg['latency_ms'].get('p99')} ms",
                flush=True,
            )
            ctx.results.add(
                Figure(
                    f"intake.half.c{c}.p99",
                    SECTION,
                    f"Intake p99 at half of peak ({rate:.0f}/s, c≤{c})",
                    result["latency_ms"].get("p99", float("nan")),
                    "ms",
                    target=Target("<=", 100, text="<= 100 ms"),
                    baseline=pg["latency_ms"].get("p99"),
                    baseline_label=f"pgbench -R {rate:.0f} p99",
                    notes=_short(result),
                    details={"api": result, "pgbench": pg},
                )
            )
            for q in ("p50", "p95"):
                ctx.results.add(
                    Figure(
                        f"intake.half.c{c}.{q}",
                        SECTION,
                        f"Intake {q} at half of peak, c≤{c}",
                        result["latency_ms"].get(q, float("nan")),
                        "ms",
                        baseline=pg["latency_ms"].get(q),
                        baseline_label=f"pgbench -R {rate:.0f} {q}",
                    )
                )
        open311 = {}
        for c in concurrencies if not quick else (16,):
            load = {
                "api_key": api_key,
                "kind": "open311",
                "mode": "closed",
                "concurrency": c,
                "warmup": warmup,
                "duration": duration,
            }
            result = await drive(server, load)
            open311[c] = result
            print(f"    Open311 c={c}: {_describe(result)}", flush=True)
            ctx.results.add(
                Figure(
                    f"intake.open311.c{c}",
                    SECTION,
                    f"Open311 POST requests.json/s at c={c}",
                    result["ok_per_s"],
                    "/s",
                    target=ratio_target,
                    baseline=baseline[c]["tps"],
                    baseline_label=f"pgbench insert+commit c={c}",
                    notes=_short(result),
                    details=result,
                )
            )
        ctx.detail(SECTION, "open311", open311)
        if not quick:
            await _growth(ctx, server, api_key, shipped[best_name][16], warmup, duration)
    _explain(ctx, runs, baseline, best_name)
    await _related_check(ctx)


GROWTH_HISTORY = (HISTORY // 10, HISTORY * 10)


async def _growth(
    ctx: Context,
    server: Server,
    api_key: str,
    at_default: dict[str, Any],
    warmup: float,
    duration: float,
) -> None:
    """The best configuration at c=16 with 10x less and 10x more history: what a submission
    costs must not grow with the requests already received (its checks read recent rows of one
    submitter or topic through indexes)."""
    by_size = {HISTORY: at_default}
    for size in GROWTH_HISTORY:
        load = {"api_key": api_key, "mode": "closed", "concurrency": 16, "warmup": warmup,
                "duration": duration}  # fmt: skip
        by_size[size] = await drive(server, load, history=size)
        print(f"    history {size:,}: {_describe(by_size[size])}", flush=True)
    await restore_history()
    ctx.detail(SECTION, "growth", {str(size): result for size, result in by_size.items()})
    for size in sorted(by_size):
        result = by_size[size]
        ctx.results.add(
            Figure(
                f"intake.history{size}.c16",
                SECTION,
                f"POST /v1/requests c=16 with {size:,} requests of history — PostgreSQL "
                f"{result['postgres_cpu_ms_per_request']} ms CPU/req",
                result["ok_per_s"],
                "/s",
                baseline=at_default["ok_per_s"],
                baseline_label=f"the same with {HISTORY:,} (as every intake figure)",
                notes=_short(result),
            )
        )
    small, large = min(by_size), max(by_size)
    factor = large / small
    for key, what in (("server_cpu_ms_per_request", "API CPU per submission"),
                      ("postgres_cpu_ms_per_request", "PostgreSQL CPU per submission")):  # fmt: skip
        before, after = by_size[small][key], by_size[large][key]
        ctx.results.add(
            Figure(
                f"growth.intake.{key}",
                "growth",
                f"Growth of the {what}, {small:,} → {large:,} requests of history "
                f"({factor:.0f}x data)",
                after / max(before, 1e-9),
                "x",
                baseline=factor,
                baseline_label="data growth factor",
                notes=f"{before} ms → {after} ms",
            )
        )


async def _related_check(ctx: Context) -> None:
    """What the related-request check costs per submission: the new text compared with the 200
    most recent texts of its topic, bigram sets recomputed each time (as shipped) or memoised."""
    from intake_service.issue.similarity import bigrams, similarity

    await restore_history()
    async with connect() as connection:
        topic = await connection.fetchval(
            "SELECT topic FROM intake.issue GROUP BY topic ORDER BY count(*) DESC LIMIT 1"
        )
        rows = await connection.fetch(
            "SELECT title, description FROM intake.issue WHERE topic = $1 ORDER BY received_at DESC LIMIT 200",
            topic,
        )
    texts = [r["title"] + r["description"] for r in rows]
    new = bigrams(texts[0] + "新")
    cached = [bigrams(t) for t in texts]
    rounds = 100
    started = time.thread_time()
    for _ in range(rounds):
        for text in texts:
            similarity(new, bigrams(text))
    shipped = (time.thread_time() - started) / rounds * 1000
    started = time.thread_time()
    for _ in range(rounds):
        for other in cached:
            similarity(new, other)
    memoised = (time.thread_time() - started) / rounds * 1000
    ctx.results.add(
        Figure(
            "intake.related_check",
            SECTION,
            f"Related-request check per submission, {len(texts)} recent texts compared, bigrams memoised",
            memoised,
            "ms",
            baseline=shipped,
            baseline_label="as shipped: every text's bigrams recomputed (CPU)",
        )
    )


def app_cpu_ms(result: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds one accepted submission cost, by process."""
    parts = {
        "API": result["server_cpu_ms_per_request"],
        "PostgreSQL": result["postgres_cpu_ms_per_request"],
        "Redis": result["redis_cpu_ms_per_request"],
        "load generator": round(result["client_cpu_us_per_request"] / 1000, 3),
    }
    parts["total"] = round(sum(parts.values()), 3)
    return parts


def _encryption_cost(ctx: Context, runs: dict[str, dict[int, dict[str, Any]]], quick: bool) -> None:
    """API CPU per submission with SM4 field encryption and without it, back to back in this
    run on the same configuration (issue 20: what sealing costs at intake)."""
    for config in configs(quick):
        if config.ships or config.app != "bench.plaintext:app":
            continue
        sealed_name = config.name.removesuffix(", field encryption off")
        for c, plain in runs[config.name].items():
            sealed = runs[sealed_name][c]
            ctx.results.add(
                Figure(
                    f"intake.encryption_cpu.c{c}",
                    SECTION,
                    f"API CPU per submission with field encryption, c={c} ({sealed_name})",
                    sealed["server_cpu_ms_per_request"],
                    "ms",
                    baseline=plain["server_cpu_ms_per_request"],
                    baseline_label="same configuration, encryption off",
                    notes=f"{sealed['ok_per_s']} vs {plain['ok_per_s']} submissions/s",
                )
            )


def _cpu_ratio(c: int, result: dict[str, Any], pgbench: dict[str, Any], target: Target) -> Figure:
    """Submissions/s the machine would sustain if the intake path had its cores to itself,
    from the CPU one submission costs across every process: robust to other work on a shared
    machine, which the measured rate is not."""
    app = app_cpu_ms(result)
    pg = pgbench["cpu_ms_per_transaction"]
    cores = os.cpu_count() or 1
    capacity = 1000 * cores / app["total"] if app["total"] else float("nan")
    return Figure(
        f"intake.capacity.c{c}",
        SECTION,
        f"Intake capacity from CPU per submission ({cores} cores to itself), c={c}",
        capacity,
        "/s",
        target=target,
        baseline=pgbench["tps"],
        baseline_label=f"pgbench insert+commit c={c} (measured)",
        notes=f"a submission costs {app['total']:.2f} ms CPU "
        f"({', '.join(f'{k} {v}' for k, v in app.items() if k != 'total')}); "
        f"a pgbench row {pg['total']:.3f} ms (PostgreSQL {pg['postgres']}, pgbench {pg['pgbench']})",
        details={"submission": app, "pgbench": pg},
    )


def _cpu_targets(
    c: int, config: str, result: dict[str, Any], pgbench: dict[str, Any]
) -> list[Figure]:
    """Issue 21's restatement of the intake target as CPU per submission, which is what limits
    it on any number of cores: the API's own, and the whole path's against a pgbench row."""
    app = app_cpu_ms(result)
    row = pgbench["cpu_ms_per_transaction"]["total"]
    path = app["API"] + app["PostgreSQL"] + app["Redis"]
    return [
        Figure(
            f"intake.api_cpu.c{c}",
            SECTION,
            f"API CPU per submission, c={c} ({config})",
            app["API"],
            "ms",
            target=Target("<=", 1.5, text="<= 1.5 ms"),
            baseline=row,
            baseline_label=f"CPU of a pgbench row, c={c} (same run)",
        ),
        Figure(
            f"intake.path_cpu.c{c}",
            SECTION,
            f"CPU per submission, API + PostgreSQL + Redis, c={c} ({config})",
            path,
            "ms",
            target=Target("<=", 12, relative=True, text="<= 12 x a pgbench row"),
            baseline=row,
            baseline_label=f"CPU of a pgbench row, c={c} (same run)",
            notes=", ".join(f"{k} {v}" for k, v in app.items() if k != "total"),
        ),
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _short(result: dict[str, Any]) -> str:
    return (
        f"API {result['server_cpu_ms_per_request']} ms CPU/req on {result['api_cpu_share']} cores, "
        f"machine busy {result['machine_busy']:.0%}, other processes {result['foreign_share']:.0%}"
    )


def _explain(
    ctx: Context,
    runs: dict[str, dict[int, dict[str, Any]]],
    baseline: dict[int, dict[str, Any]],
    best_name: str,
) -> None:
    best = runs[best_name]
    for c, result in best.items():
        per = result["db_per_request"]
        ctx.note(
            SECTION,
            f"c={c}, {best_name}: the API spent {result['server_cpu_ms_per_request']} ms of CPU per "
            f"submission, PostgreSQL {result['postgres_cpu_ms_per_request']} ms, Redis "
            f"{result['redis_cpu_ms_per_request']} ms; pgbench's row cost PostgreSQL "
            f"{baseline[c]['cpu_ms_per_transaction']['postgres']} ms. Per submission the database saw "
            f"{per.get('xact_commit')} commits, {per.get('tup_inserted')} rows inserted and "
            f"{per.get('tup_fetched')} rows fetched (the related-request scan reads up to 200).",
        )
