"""arq worker settings shared by the services: resources in ``ctx``, the event consumer and the
outbox relay cron."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import httpx
import structlog
from arq import cron
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob
from arq.typing import WorkerCoroutine
from arq.utils import timestamp_ms
from arq.worker import Function, func, get_kwargs
from arq.worker import Worker as ArqWorker
from httpx_aiohttp import AiohttpTransport
from prometheus_client import start_http_server

from services.db import service_engine, service_sessionmaker
from services.inbox import EventConsumer, EventHandler, Prefetch
from services.models import utcnow
from services.observability import EVENTS_HANDLED, configure_logging
from services.outbox import relay_outbox
from services.queue import QueueClient, job_deserializer, job_serializer, redis_settings
from services.retention import purge_bookkeeping
from services.runtime import settle_heap
from services.spec import ServiceSpec
from services.tracing import configure_tracing
from shared.jobs import handle_event_job

__all__ = ["QueueWorker", "build_worker_settings", "run"]

log = structlog.get_logger(__name__)

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


class QueueWorker(ArqWorker):
    """arq's worker, starting the jobs of one poll with one Redis round trip.

    arq claims each job with WATCH, EXISTS, ZSCORE and MULTI/EXEC, one job after another: four
    round trips per job before it runs, which cost more CPU than most of our event handlers.
    Everything else (running, retries, results, crons, health) is arq's own.
    """

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


def run(settings_cls: type) -> None:
    """Run ``settings_cls`` (from :func:`build_worker_settings`) until a signal stops it."""
    QueueWorker(**get_kwargs(settings_cls)).run()  # type: ignore[arg-type]


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
        configure_logging(f"{spec.name}-worker", level=common.log_level, json=common.log_json)
        engine = service_engine(spec)
        ctx["engine"] = engine
        ctx["sessionmaker"] = service_sessionmaker(spec, engine)
        ctx["queue_client"] = QueueClient(spec.settings.resolved_redis_url())
        ctx["http"] = outbound_http()
        ctx["spec"] = spec
        if spec.settings.worker_metrics_port > 0:
            start_http_server(spec.settings.worker_metrics_port)
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

    relay_seconds = max(1, spec.settings.outbox_relay_seconds)
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
                # Like every job here: arq keeps a killed worker's jobs "in progress" for the
                # longest timeout, so a long one would delay every takeover.
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
        "poll_delay": spec.settings.common().worker_poll_seconds,
        "max_tries": 12,
        # Results are how the outbox relay learns a job finished: keep them well past a relay.
        "keep_result": 24 * 3600,
        # arq keeps a killed worker's jobs "in progress" until the longest job timeout (+10 s)
        # expires: short timeouts let another replica take them over quickly.
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
