"""arq worker settings shared by the services: resources in ``ctx``, the event consumer and the
outbox relay cron."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx
import structlog
from arq import cron
from arq.connections import ArqRedis, create_pool, log_redis_info
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob
from arq.typing import WorkerCoroutine
from arq.utils import poll, timestamp_ms
from arq.worker import Function, func, get_kwargs
from arq.worker import Worker as ArqWorker
from arq.worker import logger as arq_logger
from httpx_aiohttp import AiohttpTransport
from prometheus_client import start_http_server
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from services.db import service_engine, service_sessionmaker
from services.encryption import check_keys_at_start, service_models, sweep
from services.inbox import EventConsumer, EventHandler, Prefetch
from services.models import utcnow
from services.observability import EVENT_OUTCOMES, EVENTS_HANDLED, configure_logging
from services.outbox import relay_outbox
from services.queue import QueueClient, job_deserializer, job_serializer, redis_settings
from services.retention import purge_bookkeeping
from services.runtime import settle_heap
from services.spec import ServiceSpec
from services.tracing import configure_tracing
from shared.jobs import handle_event_job

__all__ = ["Backoff", "QueueWorker", "build_worker_settings", "run"]

log = structlog.get_logger(__name__)

# A worker that found nothing to seal looks again after this long (see ``seal``).
CLEAN_SWEEP_PAUSE_S = 24 * 3600.0

Ctx = dict[str, Any]

# Claim every due job of a poll in one server-side step, with arq's exact rules: a job is
# started only if no worker holds its in-progress key and it is still queued and due; starting it
# sets that key. KEYS = queue, in-progress keys; ARGV = now (ms), in-progress TTL (ms), job ids.
_CLAIM_JOBS = """
local claimed = {}
local now = tonumber(ARGV[1])
for i = 2, #KEYS do
  local job_id = ARGV[i + 1]
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local score = redis.call('ZSCORE', KEYS[1], job_id)
    if score and tonumber(score) > 0 and tonumber(score) <= now then
      redis.call('PSETEX', KEYS[i], ARGV[2], '1')
      claimed[#claimed + 1] = job_id
      claimed[#claimed + 1] = score
    end
  end
end
return claimed
"""


# Redis unreachable (down, restarting, still loading its data: BusyLoadingError is a
# ConnectionError), as opposed to a command Redis refused, which is a bug and still fatal.
REDIS_DOWN: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    asyncio.TimeoutError,
)


_REDIS_OR_WATCH: tuple[type[BaseException], ...] = (*REDIS_DOWN, WatchError)


def redis_down(exc: BaseException | None) -> bool:
    """Whether ``exc`` means Redis was unreachable. redis-py turns a connection lost in the
    middle of a WATCH (arq enqueues a cron job that way) into a WatchError raised while
    handling the ConnectionError: that is an outage too, not a conflict."""
    if isinstance(exc, WatchError):
        return isinstance(exc.__context__, REDIS_DOWN)
    return isinstance(exc, REDIS_DOWN)


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: failure n waits between half and all of
    ``min(cap, initial * 2**n)``, so replicas that lost Redis together do not return in step."""

    initial: float = 0.5
    cap: float = 30.0
    failures: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.initial * 2 ** min(self.failures, 30))
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


class QueueWorker(ArqWorker):
    """arq's worker, starting the jobs of one poll with one Redis round trip, and riding out
    Redis outages.

    arq claims each job with WATCH, EXISTS, ZSCORE and MULTI/EXEC, one job after another: four
    round trips per job before it runs, which cost more CPU than most of our event handlers.

    arq gives up on Redis after a few connection retries at start and exits on the first
    connection error while polling; a supervisor then restarts the process, paying the whole
    start-up again and spinning while Redis stays away. This worker instead waits with
    :class:`Backoff` and carries on when Redis answers. Nothing accepted is lost meanwhile:
    queued jobs stay in Redis, a job whose result could not be written is run again once its
    in-progress key expires (handlers are idempotent through the inbox), and what a Redis
    restart forgot the outbox relay pushes again.

    Everything else (running, retries, results, crons, health) is arq's own.
    """

    def __init__(
        self,
        *args: Any,
        redis_backoff: Backoff | None = None,
        lease_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.redis_backoff = redis_backoff or Backoff()
        self.redis_outages = 0  # times Redis went away after being reached (tests, logs)
        # arq marks a claimed job "in progress" for the longest job timeout (+10 s) of all
        # functions, so one hour-long maintenance cron would leave every job of a killed
        # worker stranded for an hour. The mark is a lease instead: as long as the usual job
        # (+10 s), renewed while the job still runs (see _renew_leases).
        self.in_progress_timeout_s = lease_s if lease_s is not None else self.job_timeout_s + 10
        self._claimed_at: dict[str, float] = {}
        self._leases_renewed_at = time.monotonic()

    async def main(self) -> None:
        """arq's ``main`` with a start that waits for Redis instead of exiting."""
        if self._pool is None:
            self._pool = await self._connect()
        arq_logger.info(
            "Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions)
        )
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)

        async for _ in poll(self.poll_delay_s):
            await self._poll_iteration()

            if self.burst:
                if 0 <= self.max_burst_jobs <= self._jobs_started():
                    await asyncio.gather(*self.tasks.values())
                    return None
                queued_jobs = await self.pool.zcard(self.queue_name)
                if queued_jobs == 0:
                    await asyncio.gather(*self.tasks.values())
                    return None

    async def _connect(self) -> ArqRedis:
        assert self.redis_settings is not None  # arq sets it whenever no pool was given
        # One attempt per call: the waiting between attempts is ours.
        settings = dataclasses.replace(self.redis_settings, conn_retries=0)
        while True:
            pool: ArqRedis | None = None
            try:
                pool = await create_pool(
                    settings,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
                await log_redis_info(pool, arq_logger.info)
            except REDIS_DOWN as exc:
                if pool is not None:
                    with contextlib.suppress(*REDIS_DOWN):
                        await pool.aclose()
                await self._wait_for_redis(exc, "connect")
                continue
            if self.redis_backoff.failures:
                log.info("worker.redis_back", queue=self.queue_name)
                self.redis_backoff.reset()
            return pool

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except _REDIS_OR_WATCH as exc:
            if not redis_down(exc):
                raise
            if not self.redis_backoff.failures:
                self.redis_outages += 1
            # Jobs that died of the same outage: reap them here, one wait for all of them.
            for job_id, task in list(self.tasks.items()):
                if task.done() and not task.cancelled():
                    if redis_down(task.exception()):
                        del self.tasks[job_id]
            await self._wait_for_redis(exc, "poll")
            return
        if self.redis_backoff.failures:
            log.info("worker.redis_back", queue=self.queue_name)
            self.redis_backoff.reset()
        await self._renew_leases()

    async def _renew_leases(self) -> None:
        """Extend the in-progress mark of every job running for a third of its lease, in one
        round trip, a third of a lease at a time. A killed worker renews nothing, so its jobs
        are taken over within one lease however long they were allowed to run."""
        now = time.monotonic()
        every = self.in_progress_timeout_s / 3
        if now - self._leases_renewed_at < every:
            return
        self._leases_renewed_at = now
        for job_id in [job_id for job_id in self._claimed_at if job_id not in self.tasks]:
            del self._claimed_at[job_id]
        running = [
            job_id
            for job_id, at in self._claimed_at.items()
            if now - at >= every and not self.tasks[job_id].done()  # done: its mark is gone
        ]
        if running:
            ttl_ms = int(self.in_progress_timeout_s * 1000)
            async with self.pool.pipeline(transaction=False) as pipe:
                for job_id in running:
                    pipe.pexpire(in_progress_key_prefix + job_id, ttl_ms)
                await pipe.execute()

    async def _wait_for_redis(self, exc: BaseException, during: str) -> None:
        delay = self.redis_backoff.next_delay()
        log.warning(
            "worker.redis_unreachable",
            queue=self.queue_name,
            during=during,
            error=f"{type(exc).__name__}: {exc}",
            attempt=self.redis_backoff.failures,
            retry_in=round(delay, 2),
        )
        await asyncio.sleep(delay)

    async def close(self) -> None:
        """arq's ``close``, which still shuts the resources down when Redis is away."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values())
        # The health key expires on its own; a stop during an outage must not skip on_shutdown.
        with contextlib.suppress(*REDIS_DOWN):
            await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        with contextlib.suppress(*REDIS_DOWN):
            await self.pool.close(close_connection_pool=True)
        self._pool = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        room = self.max_jobs - self.job_counter
        candidates = [job_id.decode() for job_id in job_ids[: max(room, 0)]]
        if not candidates:
            return
        keys = [self.queue_name, *(in_progress_key_prefix + job_id for job_id in candidates)]
        ttl_ms = int(self.in_progress_timeout_s * 1000)
        # redis-py types eval() for its sync and async clients at once; on ArqRedis it awaits.
        reply = self.pool.eval(
            _CLAIM_JOBS, len(keys), *keys, str(timestamp_ms()), str(ttl_ms), *candidates
        )
        claimed: list[bytes] = await cast(Awaitable[list[bytes]], reply)
        for index in range(0, len(claimed), 2):
            job_id, score = claimed[index].decode(), int(float(claimed[index + 1]))
            await self.sem.acquire()
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task
            self._claimed_at[job_id] = time.monotonic()


def run(
    settings_cls: type, *, metrics_port: int | None = None, metrics_host: str = "0.0.0.0"
) -> None:
    """Run ``settings_cls`` (from :func:`build_worker_settings`) until a signal stops it.

    With a metrics port (``metrics_port``, else the service's ``<SERVICE>_WORKER_METRICS_PORT``)
    > 0, Prometheus metrics are served on ``http://<metrics_host>:<port>/metrics`` from before
    the first Redis connection: a worker waiting for Redis is still a target that answers.
    """
    port = int(getattr(settings_cls, "metrics_port", 0)) if metrics_port is None else metrics_port
    if port > 0:
        start_http_server(port, addr=metrics_host)
    backoff = getattr(settings_cls, "redis_backoff", None)
    kwargs: dict[str, Any] = get_kwargs(settings_cls)
    QueueWorker(**kwargs, redis_backoff=backoff).run()


# Every ten minutes, off the round minutes when other crons start.
RETENTION_MINUTES = set(range(7, 60, 10))


def outbound_http() -> httpx.AsyncClient:
    """The workers' HTTP client (webhooks to department systems): httpx's API over aiohttp's
    connection handling (httpx-aiohttp), the same requests, responses and errors with the HTTP
    parsing in C — a webhook POST costs ≈ 0.4 ms of CPU instead of ≈ 1 ms with httpcore."""
    return httpx.AsyncClient(transport=AiohttpTransport(), timeout=httpx.Timeout(10.0, connect=2.0))


def build_worker_settings(
    spec: ServiceSpec,
    handlers: dict[str, EventHandler],
    *,
    functions: Sequence[Function] = (),
    cron_jobs: Sequence[CronJob] = (),
    known_versions: dict[str, int] | None = None,
    prefetch: dict[str, Prefetch] | None = None,
    on_startup: Callable[[Ctx], Awaitable[None]] | None = None,
) -> type:
    """Build the ``WorkerSettings`` class arq runs for one service (queue = service name)."""
    consumer = EventConsumer(
        spec.inbox_model, handlers, known_versions, prefetch=prefetch, name=spec.name
    )

    async def startup(ctx: Ctx) -> None:
        common = spec.settings.common()
        common.check_production()
        configure_logging(f"{spec.name}-worker", level=common.log_level, json=common.log_json)
        engine = service_engine(spec)
        ctx["engine"] = engine
        ctx["sessionmaker"] = service_sessionmaker(spec, engine)
        ctx["queue_client"] = QueueClient(spec.settings.resolved_redis_url())
        ctx["http"] = outbound_http()
        ctx["spec"] = spec
        await check_keys_at_start(ctx["sessionmaker"], spec)
        # The series the alerts watch exist from the start (at 0), so that increase() sees the
        # first event; an unknown type gets its series when it first arrives.
        for event_type in handlers:
            for outcome in EVENT_OUTCOMES:
                EVENTS_HANDLED.labels(spec.name, event_type, outcome)
        configure_tracing(None, f"{spec.name}-worker")
        if on_startup is not None:
            await on_startup(ctx)
        settle_heap()
        log.info("worker.started", queue=spec.name)

    async def shutdown(ctx: Ctx) -> None:
        await ctx["http"].aclose()
        await ctx["queue_client"].close()
        await ctx["engine"].dispose()

    async def handle_event(ctx: Ctx, envelope: dict[str, Any]) -> str:
        outcome = await consumer(ctx, envelope)
        EVENTS_HANDLED.labels(spec.name, str(envelope.get("type")), outcome).inc()
        return outcome

    async def relay(ctx: Ctx) -> dict[str, int]:
        """Confirm delivered outbox events and re-push those Redis lost."""
        async with ctx["sessionmaker"]() as session:
            counts = await relay_outbox(session, ctx["queue_client"])
            await session.commit()
        if counts["pushed"] or counts["failed"]:
            log.info("outbox.relayed", **counts)
        return counts

    async def purge(ctx: Ctx) -> dict[str, int]:
        """Delete bookkeeping past its retention (services/retention.py)."""
        deleted = await purge_bookkeeping(ctx["sessionmaker"], spec, utcnow())
        if any(deleted.values()):
            log.info("retention.purged", **deleted)
        return deleted

    # Once a pass found nothing to seal, nothing new needs it: every write since is sealed under
    # the active keys, and a key change restarts the process (the run at start-up). So the
    # next pass waits a day, instead of reading every table each minute (cost would follow the
    # size of the database, not the work).
    sweep_clean_until = [0.0]

    async def seal(ctx: Ctx) -> int:
        """Seal rows written before field encryption, re-wrap retired keys (services/encryption.py)."""
        if time.monotonic() < sweep_clean_until[0]:
            return 0
        counts = await sweep(ctx["sessionmaker"], service_models(spec))
        if not counts.sealed:
            sweep_clean_until[0] = time.monotonic() + CLEAN_SWEEP_PAUSE_S
        return counts.sealed

    relay_seconds = max(1, spec.settings.outbox_relay_seconds)
    common = spec.settings.common()
    attributes: dict[str, Any] = {
        "functions": [
            func(
                _named(handle_event, handle_event_job(spec.name)), name=handle_event_job(spec.name)
            ),
            *functions,
        ],
        "cron_jobs": [
            cron(
                _named(relay, f"{spec.name}.relay_outbox"),
                name=f"{spec.name}.relay_outbox",
                second=set(range(0, 60, relay_seconds)),
                unique=True,
                run_at_startup=True,
                timeout=30,
                keep_result=0,
            ),
            cron(
                _named(purge, f"{spec.name}.purge_bookkeeping"),
                name=f"{spec.name}.purge_bookkeeping",
                minute=RETENTION_MINUTES,
                second=0,
                unique=True,
                timeout=30,
                keep_result=0,
            ),
            cron(
                _named(seal, f"{spec.name}.seal_personal_data"),
                name=f"{spec.name}.seal_personal_data",
                second=30,
                unique=True,
                run_at_startup=True,
                timeout=30,
                keep_result=0,
            ),
            *cron_jobs,
        ],
        "queue_name": spec.name,
        "redis_settings": redis_settings(spec.settings.resolved_redis_url()),
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": spec.settings.worker_max_jobs,
        "poll_delay": common.worker_poll_seconds,
        # Not arq options (get_kwargs drops them): run() uses them.
        "metrics_port": spec.settings.worker_metrics_port,
        "redis_backoff": Backoff(
            common.worker_redis_retry_seconds, common.worker_redis_retry_max_seconds
        ),
        "max_tries": 12,
        # Results are how the outbox relay learns a job finished: keep them well past a relay.
        "keep_result": 24 * 3600,
        # A killed worker's jobs stay "in progress" for this (+10 s) before another replica
        # takes them over (QueueWorker renews the mark of longer jobs while they run).
        "job_timeout": 30,
        "health_check_interval": 30,
        # One key per pod, so `arq --check` in a pod probes that pod's worker, not any replica.
        "health_check_key": f"{spec.name}:health-check:{socket.gethostname()}",
        "handle_signals": True,
        "allow_abort_jobs": False,
    }
    return type(f"{spec.name.capitalize()}WorkerSettings", (), attributes)


def _named(fn: Callable[..., Any], name: str) -> WorkerCoroutine:
    fn.__qualname__ = name
    return fn
