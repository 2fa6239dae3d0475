"""The whole stack as real processes on a throwaway PostgreSQL and Redis, a bounded client that
drives bursts through it, a dispatcher playing the center's staff, and the invariants every
fault test checks afterwards.

Nothing here touches the machine's shared PostgreSQL or Redis: each stack initialises its own
cluster (:class:`tests.fixtures.throwaway_pg.ThrowawayPostgres`) and its own ``redis-server``
on free loopback ports.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from routing_service.models import ApiKey as RoutingApiKey
from services.api_keys import create_api_key
from services.crypto import SealedJSON
from services.db import create_engine, service_sessionmaker
from services.settings import normalize_database_url
from tests.faults.receiver import FlakyReceiver
from tests.fixtures.org import Org, build_org
from tests.fixtures.processes import (
    ThrowawayRedis,
    api_argv,
    free_port,
    spawn,
    stop,
    wait_for_http,
    worker_argv,
)
from tests.fixtures.throwaway_pg import ThrowawayPostgres, migrate_all
from tests.intake_service.issue.test_endpoints import submission

SERVICES = ("intake", "routing", "scoring")
DEBUG = bool(os.environ.get("FAULT_DEBUG"))  # print the settle loop's view every second
UNITS = ("DEPT-JT", "DEPT-GH")  # the departments that subscribe to webhooks

# ---------------------------------------------------------------------------------- the stack

LIVE: set[FaultStack] = set()  # stacks not closed yet (see conftest.py's safety net)


class FaultStack:
    """Three APIs and three workers on a private PostgreSQL cluster and Redis server.

    Workers are supervised like the launcher (``python -m services``) or Kubernetes would: one
    that exits on its own is restarted after a second, and counted. Workers a test takes down on
    purpose (:meth:`kill_worker`) stay down until :meth:`start_worker`.
    """

    def __init__(
        self,
        tmp_path: Path,
        *,
        env: dict[str, str] | None = None,
        apis: tuple[str, ...] = SERVICES,
        workers: tuple[str, ...] = SERVICES,
    ) -> None:
        self.tmp_path = tmp_path
        self.extra_env = env or {}
        self.api_services = apis
        self.worker_services = workers
        self.pg = ThrowawayPostgres()
        self.redis = ThrowawayRedis()
        self.ports = {service: free_port() for service in SERVICES}
        self.db_url = ""
        self.apis: dict[str, subprocess.Popen[bytes]] = {}
        self.workers: dict[str, subprocess.Popen[bytes] | None] = {}
        self.held: set[str] = set()
        self.worker_exits: Counter[str] = Counter()
        self.api_exits: Counter[str] = Counter()
        self.receiver = FlakyReceiver()
        self.org = Org()
        self.channel_key = ""
        self.unit_keys: dict[str, str] = {}
        self.subscriptions: dict[str, str] = {}  # unit code → subscription id
        self._supervisor: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ setup

    @property
    def env(self) -> dict[str, str]:
        env = {
            "ENV": "testing",
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis.url,
            "VAR_DIR": str(self.tmp_path / "var"),
            "LOG_LEVEL": "WARNING",
            "INTAKE_URL": self.url("intake"),
            "ROUTING_URL": self.url("routing"),
            "SCORING_URL": self.url("scoring"),
            # One channel key sends the whole burst: its write limit would turn a fast burst
            # into 429s, which are not what these tests are about.
            "INTAKE_RATE_SUBMIT_PER_KEY": "0",
        }
        for service in SERVICES:
            env[f"{service.upper()}_OUTBOX_RELAY_SECONDS"] = "1"
        env.update(self.extra_env)
        return env

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log(self, name: str) -> Path:
        return self.tmp_path / f"{name}.log"

    async def start(self) -> None:
        LIVE.add(self)
        await asyncio.to_thread(self.pg.start)
        self.db_url = await self.pg.create_database("yingshang")
        await asyncio.to_thread(migrate_all, self.db_url)
        self.redis.start()
        await self._seed()
        for service in self.api_services:
            self.apis[service] = spawn(
                api_argv(service, self.ports[service]), self.env, self.log(f"{service}-api")
            )
        for service in self.worker_services:
            self.workers[service] = spawn(
                worker_argv(service), self.env, self.log(f"{service}-worker")
            )
        for service in self.api_services:
            await asyncio.to_thread(wait_for_http, f"{self.url(service)}/healthz", 60.0)
        self.receiver.up()
        if "routing" in self.api_services:
            await self._subscribe()
        self._supervisor = asyncio.create_task(self._supervise())

    async def _seed(self) -> None:
        from intake_service.models import ApiKey as IntakeApiKey
        from intake_service.spec import spec as intake_spec
        from routing_service.spec import spec as routing_spec

        url = normalize_database_url(self.db_url)
        routing_engine = create_engine(url, schema="routing", pool_size=2)
        intake_engine = create_engine(url, schema="intake", pool_size=2)
        try:
            routing = service_sessionmaker(routing_spec, routing_engine)
            self.org = await build_org(routing)
            async with routing() as session:
                for unit in UNITS:
                    _row, self.unit_keys[unit] = await create_api_key(
                        session, RoutingApiKey, name=f"{unit} system", scope=unit
                    )
                await session.commit()
            async with service_sessionmaker(intake_spec, intake_engine)() as session:
                _row, self.channel_key = await create_api_key(
                    session, IntakeApiKey, name="fault burst", scope="*"
                )
                await session.commit()
        finally:
            await routing_engine.dispose()
            await intake_engine.dispose()

    async def _subscribe(self) -> None:
        async with httpx.AsyncClient(base_url=self.url("routing"), timeout=10) as client:
            for unit in UNITS:
                response = await client.post(
                    "/v1/webhooks/subscriptions",
                    headers={"X-API-Key": self.unit_keys[unit]},
                    json={"url": self.receiver.url(unit), "event_types": ["*"]},
                )
                assert response.status_code == 201, response.text
                body = response.json()
                self.receiver.secrets[unit] = body["secret"]
                self.subscriptions[unit] = body["id"]

    # ------------------------------------------------------------------ faults

    def kill_worker(self, service: str) -> None:
        """SIGKILL, no goodbye: in-flight jobs are abandoned mid-transaction."""
        self.held.add(service)
        stop(self.workers.get(service), kill=True)

    def stop_worker(self, service: str) -> None:
        """A clean stop (SIGTERM: arq finishes its running jobs), held until started again."""
        self.held.add(service)
        stop(self.workers.get(service))

    def start_worker(self, service: str) -> None:
        self.workers[service] = spawn(worker_argv(service), self.env, self.log(f"{service}-worker"))
        self.held.discard(service)

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            for service, process in list(self.workers.items()):
                if service in self.held or process is None or process.poll() is None:
                    continue
                self.worker_exits[service] += 1
                await asyncio.sleep(1.0)
                if service not in self.held:
                    self.workers[service] = spawn(
                        worker_argv(service), self.env, self.log(f"{service}-worker")
                    )
            for service, process in list(self.apis.items()):
                if process.poll() is not None:
                    self.api_exits[service] += 1
                    self.apis[service] = spawn(
                        api_argv(service, self.ports[service]), self.env, self.log(f"{service}-api")
                    )

    # ------------------------------------------------------------------ teardown

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except asyncio.CancelledError:
                pass
        for process in [*self.workers.values(), *self.apis.values()]:
            await asyncio.to_thread(stop, process)
        self.receiver.down()
        self.redis.stop()
        await asyncio.to_thread(self.pg.destroy)
        LIVE.discard(self)

    def kill_everything(self) -> None:
        """Last resort (a test interrupted by its timeout): SIGKILL what is left, remove the
        cluster."""
        for process in [*self.workers.values(), *self.apis.values()]:
            stop(process, kill=True)
        self.receiver.down()
        self.redis.stop()
        self.pg.destroy()
        LIVE.discard(self)

    def log_tails(self, lines: int = 15) -> str:
        parts = []
        for path in sorted(self.tmp_path.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    # ------------------------------------------------------------------ database reads

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.pg.url("yingshang"), timeout=5)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()


# ---------------------------------------------------------------------------------- the client


@dataclass
class Driver:
    """Sends requests the way a well-behaved client does: on 503, 502/504, a refused or broken
    connection or a timeout it waits (honouring Retry-After up to 2 s) and sends the same
    request again, with the same Idempotency-Key. Every answer is counted."""

    max_attempts: int = 120
    deadline_seconds: float = 120.0
    codes: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)  # 500s: never acceptable
    unclear_503s: list[str] = field(default_factory=list)  # 503s without the error envelope
    first_503_at: float | None = None
    last_503_at: float | None = None

    async def call(
        self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + self.deadline_seconds
        delay = 0.2
        for _attempt in range(self.max_attempts):
            self.requests += 1
            try:
                response = await client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                self.transport_errors[type(exc).__name__] += 1
                response = None
            if response is not None:
                self.codes[response.status_code] += 1
                if response.status_code == 503:
                    now = time.monotonic()
                    self.first_503_at = self.first_503_at or now
                    self.last_503_at = now
                    if _error_code(response) != "service_unavailable":
                        self.unclear_503s.append(response.text[:300])
                elif response.status_code >= 500:
                    self.server_errors.append(
                        f"{method} {url} → {response.status_code}: {response.text[:300]}"
                    )
                # 409 conflict_retry: a concurrent twin won the race; retrying replays its answer.
                retryable = response.status_code in (500, 502, 503, 504) or (
                    response.status_code == 409 and _error_code(response) == "conflict_retry"
                )
                if not retryable:
                    return response
                retry_after = response.headers.get("retry-after")
                if retry_after and retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if time.monotonic() + delay > deadline:
                break
            self.retries += 1
            await asyncio.sleep(min(delay, 2.0))
            delay = min(delay * 1.5, 2.0)
        raise AssertionError(
            f"{method} {url} did not succeed within {self.deadline_seconds}s / {self.max_attempts} attempts"
        )

    def summary(self) -> str:
        codes = " ".join(f"{code}:{count}" for code, count in sorted(self.codes.items()))
        errors = sum(self.transport_errors.values())
        return f"http=[{codes}] transport_errors={errors} client_retries={self.retries} requests={self.requests}"


def _error_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except Exception:  # not JSON, or not the envelope
        return None


class Progress:
    """Counts finished submissions; faults wait for a fraction of the burst."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self._changed = asyncio.Event()

    def tick(self) -> None:
        self.done += 1
        self._changed.set()

    async def reached(self, fraction: float) -> None:
        while self.done < fraction * self.total:
            self._changed.clear()
            await self._changed.wait()


def request_body(run: str, i: int) -> dict[str, Any]:
    """A distinct request from a distinct submitter (so none is a 重复件 of another)."""
    return submission(
        title=f"{run}第{i}号诉求:园区道路破损",
        description=f"编号{i}:厂区门口道路坑洼积水,货车进出困难,请尽快修复。{uuid.uuid4().hex[:8]}",
        submitter={"kind": "person", "name": "张三", "phone": f"139{i:08d}"},
    )


@dataclass
class Burst:
    """``total`` submissions through ``concurrency`` connections, each with its own
    Idempotency-Key; ``twice`` sends every one of them a second time with the same key
    (even numbers concurrently, odd numbers after the first answer)."""

    stack: FaultStack
    driver: Driver
    total: int
    concurrency: int = 8
    twice: bool = False
    rate: float | None = None  # submissions per second at most (None: as fast as answered)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    receipts: dict[int, dict[str, Any]] = field(default_factory=dict)
    twin_mismatches: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        self.progress = Progress(self.total)

    async def run_all(self) -> None:
        started = time.monotonic()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.total):
            queue.put_nowait(i)
        limits = httpx.Limits(
            max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency * 2
        )
        async with httpx.AsyncClient(
            base_url=self.stack.url("intake"), timeout=15, limits=limits
        ) as client:

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    if self.rate:
                        await asyncio.sleep(max(0.0, started + i / self.rate - time.monotonic()))
                    await self._one(client, i)
                    self.progress.tick()
                    if DEBUG and self.progress.done % 25 == 0:
                        print(
                            f"  burst: {self.progress.done}/{self.total} at {time.monotonic() - started:.1f}s {self.driver.summary()}"
                        )

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        self.elapsed = time.monotonic() - started

    async def _one(self, client: httpx.AsyncClient, i: int) -> None:
        headers = {"X-API-Key": self.stack.channel_key, "Idempotency-Key": f"{self.run}-{i}"}
        body = request_body(self.run, i)
        send: Callable[[], Awaitable[httpx.Response]] = lambda: self.driver.call(  # noqa: E731
            client, "POST", "/v1/requests", json=body, headers=headers
        )
        if not self.twice:
            response = await send()
            assert response.status_code == 201, response.text
            self.receipts[i] = response.json()
            return
        if i % 2 == 0:
            first, second = await asyncio.gather(send(), send())
        else:
            first = await send()
            second = await send()
        assert first.status_code == 201, first.text
        assert second.status_code == 201, second.text
        a, b = first.json(), second.json()
        if (a["id"], a["tracking_no"], a["tracking_secret"]) != (
            b["id"],
            b["tracking_no"],
            b["tracking_secret"],
        ):
            self.twin_mismatches.append(f"{i}: {a['tracking_no']} vs {b['tracking_no']}")
        self.receipts[i] = a

    @property
    def accepted_ids(self) -> set[str]:
        return {receipt["id"] for receipt in self.receipts.values()}


# ---------------------------------------------------------------------------------- the center


def is_multi(request_id: str) -> bool:
    """One case in five goes to two departments (lead + co-handler)."""
    return int(hashlib.sha256(request_id.encode()).hexdigest(), 16) % 5 == 0


def expected_units(request_id: str) -> tuple[str, ...]:
    return UNITS if is_multi(request_id) else UNITS[:1]


@dataclass
class Dispatcher:
    """The center's operator and dispatcher: verifies and dispatches every case that arrives,
    through the routing API, while the burst is still running. ``twice`` sends each verify and
    dispatch a second time with the same Idempotency-Key (concurrently for every other case)."""

    stack: FaultStack
    driver: Driver
    concurrency: int = 4
    twice: bool = False
    dispatched: set[str] = field(default_factory=set)  # request ids
    mismatches: list[str] = field(default_factory=list)
    _busy: set[str] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(base_url=self.stack.url("routing"), timeout=15) as client:
            tasks: set[asyncio.Task[None]] = set()
            while not self._stop.is_set():
                try:
                    rows = await self.stack.query(
                        """SELECT id, request_id, status FROM routing."case"
                           WHERE status IN ('pending_verification', 'awaiting_dispatch')
                           ORDER BY received_at LIMIT 400"""
                    )
                except (TimeoutError, OSError, asyncpg.PostgresError):
                    rows = []  # the database is restarting: look again in a moment
                for row in rows:
                    case_id = str(row["id"])
                    if case_id in self._busy:
                        continue
                    self._busy.add(case_id)
                    task = asyncio.create_task(
                        self._handle(
                            client, semaphore, case_id, str(row["request_id"]), row["status"]
                        )
                    )
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(0.3)
            await asyncio.gather(*tasks)

    def stop(self) -> None:
        self._stop.set()

    async def _handle(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, case_id: str,
                      request_id: str, status: str) -> None:  # fmt: skip
        try:
            async with semaphore:
                multi = is_multi(request_id)
                if status == "pending_verification":
                    verify = {
                        "decision": "accept",
                        "classification": "multi" if multi else "general",
                    }
                    await self._send(
                        client,
                        f"/v1/cases/{case_id}/verify",
                        verify,
                        "hs_operator",
                        f"verify-{case_id}",
                        case_id,
                    )
                units = (
                    [{"unit_code": UNITS[0], "role": "lead"}, {"unit_code": UNITS[1], "role": "co"}]
                    if multi
                    else [{"unit_code": UNITS[0]}]
                )
                await self._send(
                    client,
                    f"/v1/cases/{case_id}/dispatch",
                    {"units": units},
                    "hs_dispatcher",
                    f"dispatch-{case_id}",
                    case_id,
                )
                self.dispatched.add(request_id)
        finally:
            self._busy.discard(case_id)

    async def _send(
        self,
        client: httpx.AsyncClient,
        path: str,
        body: dict[str, Any],
        user: str,
        key: str,
        case_id: str,
    ) -> None:
        headers = {**self.stack.org.auth(user), "Idempotency-Key": key}

        async def once() -> httpx.Response:
            return await self.driver.call(client, "POST", path, json=body, headers=headers)

        if not self.twice:
            response = await once()
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
            return
        if int(case_id[-1], 16) % 2 == 0:
            first, second = await asyncio.gather(once(), once())
        else:
            first = await once()
            second = await once()
        assert first.status_code == 200, f"{path}: {first.status_code} {first.text}"
        assert second.status_code == 200, f"{path} (twice): {second.status_code} {second.text}"
        if first.json() != second.json():
            self.mismatches.append(path)


# ---------------------------------------------------------------------------------- invariants


@dataclass
class State:
    """What the three databases say, read directly from the throwaway cluster."""

    issues: set[str]
    issue_history: int
    issue_status: dict[str, tuple[str, datetime]]  # request id → (status, changed at) shown
    latest_change: dict[str, tuple[str, datetime]]  # request id → routing's newest change
    cases: dict[str, str]  # request id → case status
    case_versions: dict[str, tuple[int, str]]  # case id → (revision, status) in routing
    card_versions: dict[str, int]  # card id → revision in routing
    case_fact_versions: dict[str, tuple[int, str]]  # the same, as scoring last applied them
    card_fact_versions: dict[str, int]
    case_rows: int
    duplicate_cases: int
    cards: Counter[tuple[str, str]]  # (request id, unit code) → cards
    history_events: Counter[str]  # case id → chain length
    deliveries: list[asyncpg.Record]
    outbox: dict[str, list[asyncpg.Record]]  # service → rows
    inbox: dict[str, set[str]]  # service → event ids
    inbox_rows: dict[str, int]
    request_facts: int
    case_facts: int
    card_facts: int

    @property
    def unconfirmed(self) -> int:
        return sum(
            1 for rows in self.outbox.values() for row in rows if row["confirmed_at"] is None
        )

    @property
    def pending_deliveries(self) -> int:
        return sum(1 for row in self.deliveries if row["status"] == "pending")

    def routed_to(self, queue: str) -> set[str]:
        return {
            str(row["event_id"])
            for rows in self.outbox.values()
            for row in rows
            if row["queue"] == queue
        }

    def status_changes_for_intake(self) -> int:
        return sum(1 for row in self.outbox["routing"] if row["queue"] == "intake")

    # Projections that lag behind routing once every event has been applied: lost updates
    # (see test_projection_races.py), reported by every fault test, asserted by that one.

    @property
    def stale_submitter_status(self) -> int:
        """Requests whose status or status time is not routing's newest change (a lost update
        can also mix columns: the newer status with the older change's time and note)."""
        return sum(
            1
            for request_id, latest in self.latest_change.items()
            if self.issue_status.get(request_id) != latest
        )

    @property
    def stale_case_facts(self) -> int:
        facts = self.case_fact_versions
        return sum(1 for case, version in self.case_versions.items() if facts.get(case) != version)

    @property
    def stale_card_facts(self) -> int:
        facts = self.card_fact_versions
        return sum(1 for card, version in self.card_versions.items() if facts.get(card) != version)


async def read_state(stack: FaultStack) -> State:
    q = stack.query
    issue_status = {
        str(r["id"]): (r["status"], r["status_changed_at"])
        for r in await q("SELECT id, status, status_changed_at FROM intake.issue")
    }
    latest_change: dict[str, tuple[str, datetime]] = {}
    # Envelopes are sealed (services/crypto.py): opened here with the stack's development keys,
    # which the test process derives from the same SECRET_KEY.
    envelopes = SealedJSON("outbox_event.envelope")
    for r in await q("SELECT envelope FROM routing.outbox_event WHERE queue = 'intake'"):
        data = envelopes.process_result_value(r["envelope"], None)["data"]  # type: ignore[arg-type]
        change = (data["status"], datetime.fromisoformat(data["changed_at"]))
        known = latest_change.get(data["request_id"])
        if known is None or change[1] > known[1]:
            latest_change[data["request_id"]] = change
    history = (await q("SELECT count(*) AS n FROM intake.issue_history"))[0]["n"]
    case_rows = await q('SELECT id, request_id, status, revision FROM routing."case"')
    per_request = Counter(str(r["request_id"]) for r in case_rows)
    cards = Counter(
        (str(r["request_id"]), r["code"])
        for r in await q(
            'SELECT c.request_id, u.code FROM routing.card k JOIN routing."case" c ON c.id = k.case_id '
            "JOIN routing.org_unit u ON u.id = k.unit_id"
        )
    )
    chains = Counter(
        {
            str(r["case_id"]): r["n"]
            for r in await q(
                "SELECT case_id, count(*) AS n FROM routing.case_event GROUP BY case_id"
            )
        }
    )
    deliveries = await q(
        "SELECT d.message_id, d.status, d.attempts, d.event_type, u.code FROM routing.webhook_delivery d "
        "JOIN routing.webhook_subscription s ON s.id = d.subscription_id JOIN routing.org_unit u ON u.id = s.unit_id"
    )
    outbox = {
        s: await q(
            f"SELECT event_id, event_type, queue, confirmed_at, attempts FROM {s}.outbox_event"
        )
        for s in SERVICES
    }
    inbox_rows = {s: await q(f"SELECT event_id FROM {s}.inbox_event") for s in SERVICES}
    case_facts = await q("SELECT case_id, revision, status FROM scoring.case_fact")
    card_facts = await q("SELECT card_id, revision FROM scoring.card_fact")
    return State(
        issues=set(issue_status),
        issue_history=history,
        issue_status=issue_status,
        latest_change=latest_change,
        cases={str(r["request_id"]): r["status"] for r in case_rows},
        case_versions={str(r["id"]): (r["revision"], r["status"]) for r in case_rows},
        card_versions={
            str(r["id"]): r["revision"] for r in await q("SELECT id, revision FROM routing.card")
        },
        case_fact_versions={str(r["case_id"]): (r["revision"], r["status"]) for r in case_facts},
        card_fact_versions={str(r["card_id"]): r["revision"] for r in card_facts},
        case_rows=len(case_rows),
        duplicate_cases=sum(n - 1 for n in per_request.values() if n > 1),
        cards=cards,
        history_events=chains,
        deliveries=deliveries,
        outbox=outbox,
        inbox={s: {str(r["event_id"]) for r in rows} for s, rows in inbox_rows.items()},
        inbox_rows={s: len(rows) for s, rows in inbox_rows.items()},
        request_facts=(await q("SELECT count(*) AS n FROM scoring.request_fact"))[0]["n"],
        case_facts=len(case_facts),
        card_facts=len(card_facts),
    )


async def settle(stack: FaultStack, burst: Burst, dispatcher: Dispatcher, timeout: float) -> State:
    """Wait until everything accepted has been dispatched and every event and webhook has gone
    where it should (or ``timeout`` passes); returns the final state either way."""
    deadline = time.monotonic() + timeout
    accepted = burst.accepted_ids
    state: State | None = None
    while True:
        try:
            state = await read_state(stack)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            state = None
        if state is not None:
            dispatched = sum(1 for rid in accepted if state.cases.get(rid) == "dispatched")
            done = (
                dispatched == len(accepted)
                and state.unconfirmed == 0
                and state.pending_deliveries == 0
                and state.request_facts >= len(accepted)
            )
            if DEBUG:
                print(
                    f"  settle: dispatched={dispatched}/{len(accepted)} unconfirmed={state.unconfirmed} "
                    f"pending_webhooks={state.pending_deliveries} request_facts={state.request_facts} "
                    f"stale_submitter_status={state.stale_submitter_status}"
                )
            if done or time.monotonic() > deadline:
                dispatcher.stop()
                return state
        await asyncio.sleep(1.0)


@dataclass
class Report:
    name: str
    burst: Burst
    dispatcher: Dispatcher
    stack: FaultStack
    state: State
    audit_broken: list[Any]
    started: float
    settled_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        s, accepted = self.state, self.burst.accepted_ids
        delivered = [d for d in s.deliveries if d["status"] == "delivered"]
        twice = self.stack.receiver.accepted_more_than_once()
        parts = {
            "accepted": len(accepted),
            "issues": len(s.issues),
            "cases": s.case_rows,
            "duplicates": s.duplicate_cases,
            "cards": sum(s.cards.values()),
            "webhooks": len(s.deliveries),
            "webhooks_delivered": len(delivered),
            "webhook_retries": sum(d["attempts"] - 1 for d in delivered),
            "receiver_hits": len(self.stack.receiver.snapshot()),
            "webhooks_accepted_twice": len(twice),
            "max_gap_s": round(max(twice.values(), default=0.0)),
            "events_applied": sum(s.inbox_rows.values()),
            "outbox_unconfirmed": s.unconfirmed,
            "outbox_repushes": sum(r["attempts"] for rows in s.outbox.values() for r in rows),
            "request_facts": s.request_facts,
            # Known race (test_projection_races.py): reported here, asserted there.
            "stale_submitter_status": s.stale_submitter_status,
            "stale_case_facts": s.stale_case_facts,
            "stale_card_facts": s.stale_card_facts,
            "broken_chains": len(self.audit_broken),
            "worker_restarts": sum(self.stack.worker_exits.values()),
            **self.extra,
            "burst_seconds": round(self.burst.elapsed, 1),
            "total_seconds": round(time.monotonic() - self.started, 1),
        }
        text = " ".join(f"{key}={value}" for key, value in parts.items())
        return f"[{self.name}] {text} {self.burst.driver.summary()}"


async def audit(stack: FaultStack) -> list[Any]:
    """The routing API's own check of every case's hash chain (auditor token)."""
    driver = Driver(max_attempts=10)
    broken: list[Any] = []
    cursor = None
    async with httpx.AsyncClient(base_url=stack.url("routing"), timeout=120) as client:
        while True:  # cursor pages of 10,000 cases, each answering its broken chains
            params: dict[str, Any] = {"only_broken": "true", "limit": 10_000}
            if cursor:
                params["cursor"] = cursor
            response = await driver.call(
                client, "GET", "/v1/audit/verify", params=params,
                headers=stack.org.auth("auditor"),
            )  # fmt: skip
            assert response.status_code == 200, response.text
            page = response.json()
            broken += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return broken


def check_invariants(report: Report) -> None:
    """Everything the issue promises after a fault; each failure names what broke."""
    s, burst, stack = report.state, report.burst, report.stack
    accepted = burst.accepted_ids
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    # Every 201 is one request in intake, one case in routing, nothing more.
    expect(
        len(accepted) == burst.total, f"only {len(accepted)} of {burst.total} submissions got a 201"
    )
    expect(
        s.issues == accepted,
        f"intake has {len(s.issues)} requests for {len(accepted)} 201s (extra: {len(s.issues - accepted)})",
    )
    expect(s.duplicate_cases == 0, f"{s.duplicate_cases} duplicate cases")
    missing = [rid for rid in accepted if rid not in s.cases]
    expect(not missing, f"{len(missing)} accepted requests have no case, e.g. {missing[:3]}")
    expect(
        set(s.cases) <= accepted,
        f"{len(set(s.cases) - accepted)} cases for requests nobody got a 201 for",
    )
    undispatched = [rid for rid in accepted if s.cases.get(rid) != "dispatched"]
    expect(
        not undispatched,
        f"{len(undispatched)} cases not dispatched, e.g. {[(r, s.cases.get(r)) for r in undispatched[:3]]}",
    )

    # One card per unit the case went to.
    wrong_cards = []
    for rid in accepted:
        wanted = expected_units(rid)
        got = {unit: s.cards.get((rid, unit), 0) for unit in UNITS}
        if any(got[unit] != (1 if unit in wanted else 0) for unit in UNITS):
            wrong_cards.append((rid, got))
    expect(
        not wrong_cards,
        f"{len(wrong_cards)} cases without exactly one card per unit, e.g. {wrong_cards[:3]}",
    )

    # No event lost, none applied twice.
    expect(s.unconfirmed == 0, f"{s.unconfirmed} outbox events never confirmed")
    for service in SERVICES:
        routed = s.routed_to(service)
        expect(s.inbox[service] == routed,
               f"{service} applied {len(s.inbox[service])} events of {len(routed)} routed to it "
               f"(missing {len(routed - s.inbox[service])}, unknown {len(s.inbox[service] - routed)})")  # fmt: skip
        expect(
            s.inbox_rows[service] == len(s.inbox[service]),
            f"{service}: inbox rows repeat an event id",
        )
    # Each case.status_changed applied once adds one line to the submitter's history.
    expected_history = len(s.issues) + s.status_changes_for_intake()
    expect(
        s.issue_history == expected_history,
        f"intake history has {s.issue_history} lines, expected {expected_history}",
    )
    expect(
        s.request_facts == len(accepted),
        f"scoring has {s.request_facts} request facts for {len(accepted)} requests",
    )
    expect(
        s.case_facts == s.case_rows,
        f"scoring has {s.case_facts} case facts for {s.case_rows} cases",
    )
    expect(
        s.card_facts == sum(s.cards.values()),
        f"scoring has {s.card_facts} card facts for {sum(s.cards.values())} cards",
    )
    # create, verify.accept, dispatch: a chain of three per case, none repeated.
    long_chains = [case for case, n in s.history_events.items() if n != 3]
    expect(not long_chains, f"{len(long_chains)} case histories are not create→verify→dispatch")
    expect(
        not report.audit_broken,
        f"{len(report.audit_broken)} broken history chains: {report.audit_broken[:2]}",
    )

    # Every webhook delivered at least once, with a valid signature.
    dispatched_webhooks = [d for d in s.deliveries if d["event_type"] == "card.dispatched"]
    expect(len(dispatched_webhooks) == sum(s.cards.values()),
           f"{len(dispatched_webhooks)} card.dispatched webhooks for {sum(s.cards.values())} cards")  # fmt: skip
    not_delivered = [d["message_id"] for d in s.deliveries if d["status"] != "delivered"]
    expect(
        not not_delivered, f"{len(not_delivered)} webhooks not delivered, e.g. {not_delivered[:3]}"
    )
    received = stack.receiver.delivered_ok()
    unseen = [d["message_id"] for d in s.deliveries if d["message_id"] not in received]
    expect(
        not unseen,
        f"{len(unseen)} webhooks never received with a valid signature, e.g. {unseen[:3]}",
    )
    bad = [h.message_id for h in stack.receiver.snapshot() if not h.signature_ok]
    expect(not bad, f"{len(bad)} webhook requests with an invalid signature")

    # Clients: clear answers only.
    for driver in (burst.driver, report.dispatcher.driver):
        expect(
            not driver.server_errors,
            f"{len(driver.server_errors)} server errors, e.g. {driver.server_errors[:2]}",
        )
        expect(
            not driver.unclear_503s,
            f"{len(driver.unclear_503s)} 503s without the error envelope: {driver.unclear_503s[:2]}",
        )
    expect(
        not burst.twin_mismatches,
        f"twin submissions answered differently: {burst.twin_mismatches[:3]}",
    )
    expect(
        not report.dispatcher.mismatches,
        f"twin verify/dispatch answered differently: {report.dispatcher.mismatches[:3]}",
    )
    expect(not stack.api_exits, f"API processes died: {dict(stack.api_exits)}")

    assert not problems, "\n".join([report.line(), *problems, stack.log_tails()])


# ---------------------------------------------------------------------------------- a scenario

Fault = Callable[[FaultStack, Burst], Awaitable[dict[str, Any]]]


async def run_scenario(
    tmp_path: Path,
    name: str,
    *,
    total: int,
    fault: Fault,
    settle_timeout: float,
    twice: bool = False,
    concurrency: int = 8,
    rate: float | None = None,
    env: dict[str, str] | None = None,
) -> Report:
    """Start a stack, drive ``total`` submissions through it while the dispatcher works the
    cases and ``fault`` does its damage, wait for everything to settle, print the counts and
    check every invariant. Returns the report for test-specific checks."""
    started = time.monotonic()
    stack = FaultStack(tmp_path, env=env)
    try:
        await stack.start()
        burst = Burst(stack, Driver(), total, concurrency=concurrency, twice=twice, rate=rate)
        dispatcher = Dispatcher(stack, Driver(), twice=twice)
        dispatching = asyncio.create_task(dispatcher.run())
        faulting = asyncio.create_task(fault(stack, burst))
        try:
            await burst.run_all()
            extra = await faulting
            burst_done = time.monotonic()
            state = await settle(stack, burst, dispatcher, settle_timeout)
            settled_at = time.monotonic()
            extra["settle_seconds"] = round(settled_at - burst_done, 1)
            await asyncio.wait_for(dispatching, 120)
        finally:
            faulting.cancel()
            dispatcher.stop()
            dispatching.cancel()
        report = Report(
            name, burst, dispatcher, stack, state, await audit(stack), started, settled_at, extra
        )
        print(report.line())
        check_invariants(report)
        return report
    finally:
        await stack.close()


def submissions(default: int) -> int:
    """Burst size: the test's default, or ``FAULT_SUBMISSIONS`` (e.g. 2000, the issue's size,
    for a long run outside CI)."""
    return int(os.environ.get("FAULT_SUBMISSIONS", default))
