"""Webhook jobs: one delivery attempt, and the sweep that re-enqueues deliveries whose job was
lost. ``WEBHOOK_FUNCTIONS`` and ``WEBHOOK_CRON_JOBS`` go into the routing worker's settings."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import httpx
import orjson
import structlog
from arq import Retry, cron
from arq.cron import CronJob
from arq.worker import Function, func
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError, OperationalError

from routing_service.config import settings
from routing_service.webhook.service import (
    DELIVER_JOB,
    SWEEP_JOB,
    Attempt,
    Outcome,
    SendResult,
    enqueue_delivery,
    webhook_service,
)
from routing_service.webhook.signing import signed_headers
from routing_service.webhook.targets import (
    IPAddress,
    Target,
    TargetInvalid,
    TargetRefused,
    TargetUnresolved,
    parse_target,
    vet,
)
from services.db import AsyncSessionMaker, autocommit
from services.models import utcnow
from services.queue import QueueClient, RedisError

__all__ = [
    "WEBHOOK_CRON_JOBS",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_FUNCTIONS",
    "deliver_webhook",
    "sweep_webhooks",
]

log = structlog.get_logger(__name__)

WEBHOOK_DELIVERIES = Counter(
    "yingshang_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"]
)
# Every outcome's series exists from the start, so increase() sees the first dead letter.
for _outcome in ("delivered", "retry", "dead"):
    WEBHOOK_DELIVERIES.labels(_outcome)

SWEEP_SECONDS = 10
# Enough of the receiver's answer to say what went wrong; the rest is never read.
RESPONSE_SNIPPET_BYTES = 512

Ctx = dict[str, Any]


async def deliver_webhook(ctx: Ctx, delivery_id: str) -> str:
    """Make the next attempt of one delivery, if it is pending and due (idempotent)."""
    sessionmaker: AsyncSessionMaker = ctx["sessionmaker"]
    try:
        identifier = uuid.UUID(delivery_id)
    except ValueError:
        log.warning("webhook.bad_job_argument", delivery_id=delivery_id[:64])
        return "skipped"
    try:
        async with autocommit(sessionmaker) as connection:
            claimed: Attempt | Outcome | None = await webhook_service.take_attempt(
                connection, identifier, now=utcnow()
            )
        if claimed is None:
            async with sessionmaker() as session:
                claimed = await webhook_service.claim(session, identifier, now=utcnow())
                await session.commit()
        if not isinstance(claimed, Attempt):
            if claimed == "dead":
                WEBHOOK_DELIVERIES.labels("dead").inc()
            return claimed
        result = await send(ctx["http"], claimed)
        next_at: datetime | None = None
        if result.ok:
            async with autocommit(sessionmaker) as connection:
                outcome = await webhook_service.record_delivered(
                    connection, claimed, result, now=utcnow()
                )
        else:
            async with sessionmaker() as session:
                outcome, next_at = await webhook_service.record(
                    session, claimed, result, now=utcnow()
                )
                await session.commit()
    except (OperationalError, DBAPIError, OSError) as exc:
        # Database unreachable: let arq try again shortly (the sweep is the backstop).
        job_try = int(ctx.get("job_try", 1))
        log.warning("webhook.retry_job", error=str(exc)[:300], job_try=job_try)
        raise Retry(defer=min(5 * job_try, 60)) from exc

    if outcome != "skipped":
        WEBHOOK_DELIVERIES.labels(outcome).inc()
    if outcome == "retry" and next_at is not None:
        queue_client: QueueClient = ctx["queue_client"]
        try:
            await enqueue_delivery(
                queue_client, claimed.delivery_id, claimed.attempt, defer_by=next_at - utcnow()
            )
        except (RedisError, OSError) as exc:
            log.warning("webhook.enqueue_failed", error=str(exc)[:300])
    log.info(
        "webhook.attempt",
        delivery=delivery_id,
        attempt=claimed.attempt,
        outcome=outcome,
        status_code=result.status_code,
    )
    return outcome


async def send(http: httpx.AsyncClient, attempt: Attempt) -> SendResult:
    """POST one signed attempt. Never raises: every failure is a result to record.

    The host is resolved here, every address it resolves to is checked (targets.vet) and the
    connection goes to a checked address, with the name kept in the Host header and TLS SNI:
    nothing resolves the name a second time, so DNS rebinding cannot redirect the POST. A
    refused target is a permanent failure; redirects are never followed.
    """
    body = orjson.dumps(attempt.payload).decode()
    headers = signed_headers(attempt.secrets, attempt.message_id, utcnow(), body)
    timeout = settings.webhook_timeout_seconds
    try:
        target = parse_target(attempt.url)
        # httpx's timeout bounds each read; this bounds the whole exchange (resolution, every
        # address tried, slow-drip bodies).
        async with asyncio.timeout(timeout + 1):
            addresses = await vet(target, timeout=timeout)
            failure = SendResult(error="ConnectError: no address")
            for address in addresses:
                try:
                    return await _post(http, target, address, body, headers, timeout)
                except Exception as exc:
                    connect_error = _connect_error(exc)
                    if connect_error is None:
                        raise
                    failure = SendResult(error=connect_error[:500])  # the next address, if any
            return failure
    except (TargetInvalid, TargetRefused) as exc:
        return SendResult(error=f"{exc.message} / {exc.message_en}"[:500], permanent=True)
    except TargetUnresolved as exc:
        return SendResult(error=f"{exc.message} / {exc.message_en}"[:500])
    except (TimeoutError, httpx.TimeoutException):
        return SendResult(error=f"timeout after {timeout:g}s")
    except Exception as exc:  # any failure of an untrusted endpoint is a failed attempt
        return SendResult(error=f"{type(exc).__name__}: {exc}"[:500])


async def _post(
    http: httpx.AsyncClient,
    target: Target,
    address: IPAddress,
    body: str,
    headers: dict[str, str],
    timeout: float,
) -> SendResult:
    """POST to one vetted address of the target."""
    extensions: dict[str, Any] = {}
    if target.url.scheme == "https" and target.named:
        extensions["sni_hostname"] = target.host  # and the name the certificate must match
    async with http.stream(
        "POST",
        target.url.copy_with(host=str(address)),
        content=body.encode(),
        headers={**headers, "host": target.url.netloc.decode("ascii")},
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        extensions=extensions,
    ) as response:
        snippet = await _read_prefix(response, RESPONSE_SNIPPET_BYTES)
    if 200 <= response.status_code < 300:
        return SendResult(status_code=response.status_code)
    error = f"HTTP {response.status_code}"
    location = response.headers.get("location")
    if 300 <= response.status_code < 400 and location is not None:
        error += f": 重定向未跟随 / redirect not followed (Location: {location[:300]})"
    elif snippet:
        error += ": " + snippet.decode("utf-8", "replace")
    return SendResult(
        status_code=response.status_code,
        error=error,
        retry_after=_retry_after(response.headers.get("retry-after")),
    )


def _connect_error(exc: BaseException) -> str | None:
    """What went wrong when no connection could be made (another address may work), else
    ``None``."""
    if isinstance(exc, httpx.ConnectError):
        return f"ConnectError: {exc}"
    cause = exc.__cause__
    if (
        isinstance(exc, httpx.TimeoutException)
        and isinstance(cause, aiohttp.ClientConnectionError)
        and not isinstance(cause, TimeoutError)
    ):
        # The aiohttp transport reports a refused or failed connection as ConnectTimeout:
        # record what happened, not a timeout that never ran.
        return f"ConnectError: {cause}"
    return None


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # the HTTP-date form is rare from webhook receivers
    return seconds if seconds >= 0 else None


async def sweep_webhooks(ctx: Ctx) -> int:
    """Enqueue due pending deliveries whose job was lost; a double enqueue is a no-op."""
    sessionmaker: AsyncSessionMaker = ctx["sessionmaker"]
    queue_client: QueueClient = ctx["queue_client"]
    async with sessionmaker() as session:
        due = await webhook_service.due(session, now=utcnow())
    enqueued = 0
    for delivery_id, attempts in due:
        if await enqueue_delivery(queue_client, delivery_id, attempts, clear_stale=True):
            enqueued += 1
    if enqueued:
        log.info("webhook.swept", due=len(due), enqueued=enqueued)
    return enqueued


WEBHOOK_FUNCTIONS: list[Function] = [
    func(
        deliver_webhook,
        name=DELIVER_JOB,
        # No result is kept, so the job id is free again as soon as the job ends: replays and
        # the sweep can enqueue the same attempt number again.
        keep_result=0,
        timeout=settings.webhook_timeout_seconds + 30,
        max_tries=5,
    ),
]

WEBHOOK_CRON_JOBS: list[CronJob] = [
    cron(
        sweep_webhooks,
        name=SWEEP_JOB,
        second=set(range(0, 60, SWEEP_SECONDS)),
        unique=True,
        run_at_startup=True,
        timeout=60,
        keep_result=0,
    ),
]
