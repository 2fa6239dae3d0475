"""The FastAPI app factory every service uses: lifespan resources, middleware, ops endpoints."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.db import service_engine, service_sessionmaker
from services.encryption import check_keys_at_start
from services.errors import add_exception_handlers, render
from services.headers import EXPOSED_HEADERS, REQUEST_HEADERS
from services.labels import router as labels_router
from services.models import utcnow
from services.observability import (
    DEPENDENCY_UP,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    QUEUE_DEPTH,
    RequestContextMiddleware,
    configure_logging,
)
from services.openapi import document, operation_id
from services.queue import QueueClient, RedisError
from services.ratelimit import RateLimitHeadersMiddleware
from services.runtime import settle_heap
from services.spec import ServiceSpec
from services.tracing import configure_tracing
from shared.schemas.ops import DependencyCheck, Liveness, Readiness, ReadinessChecks
from shared.schemas.text import (
    CONTROL_CHARACTERS_ERROR,
    CONTROL_CHARACTERS_MESSAGE,
    has_control_characters,
)

__all__ = ["create_service_app"]

# A service's own resources, entered once the kit's exist and left before they close.
ServiceResources = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    spec: ServiceSpec,
    routers: Sequence[APIRouter],
    *,
    title: str,
    description: str,
    resources: ServiceResources | None = None,
) -> FastAPI:
    common = spec.settings.common()
    common.check_production()
    configure_logging(spec.name, level=common.log_level, json=common.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = service_engine(spec)
        app.state.engine = engine
        app.state.sessionmaker = service_sessionmaker(spec, engine)
        redis_url = common.redis_url
        app.state.queue = QueueClient(redis_url) if redis_url else None
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0))
        app.state.spec = spec
        await check_keys_at_start(app.state.sessionmaker, spec)
        try:
            if resources is None:
                settle_heap()
                yield
            else:
                async with resources(app):
                    settle_heap()
                    yield
        finally:
            await app.state.http.aclose()
            if app.state.queue is not None:
                await app.state.queue.close()
            await engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(refuse_control_characters_in_url)],
        generate_unique_id_function=operation_id,
    )
    add_exception_handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(labels_router)
    _add_ops_routes(app, spec)
    # Innermost first: the last added runs outermost.
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(RequestGuardMiddleware, max_bytes=common.max_body_bytes)
    if common.cors_origins:
        # Outside the body guard, so a browser can read its 413 too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=common.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=list(REQUEST_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
        )
    app.add_middleware(RequestContextMiddleware, service=spec.name)
    configure_tracing(app, spec.name)
    document(app)
    return app


# What /readyz checks and how long each check may take: both run at once, well inside the
# probes' 3 s timeout, so a hung dependency reads as "timeout" rather than a failed probe.
DATABASE_CHECK_SECONDS = 2.0
REDIS_CHECK_SECONDS = 1.0
# Redis is checked and reported, but its loss does not make an API unready: writes still commit
# to the outbox and the relay delivers them later, so pulling every pod out of the Service would
# only refuse submissions the platform can keep. Alert YingshangRedisUnreachable covers it.
READINESS_REQUIRES: frozenset[str] = frozenset({"database"})


async def _check(
    name: str, probe: Callable[[], Awaitable[object]], timeout: float
) -> DependencyCheck:
    started = time.perf_counter()
    error: str | None = None
    try:
        await asyncio.wait_for(probe(), timeout)
    except TimeoutError:
        error = "timeout"
    except Exception as exc:  # any failure means the dependency is not usable
        error = type(exc).__name__
    return DependencyCheck(
        status="ok" if error is None else "error",
        error=error,
        required=name in READINESS_REQUIRES,
        seconds=round(time.perf_counter() - started, 4),
    )


async def check_readiness(app: FastAPI, spec: ServiceSpec) -> Readiness:
    """Check the database and Redis concurrently, each within its bound."""

    async def database() -> None:
        async with app.state.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def redis() -> None:
        queue: QueueClient | None = app.state.queue
        if queue is None:
            raise LookupError("REDIS_URL not set")
        await queue.redis.ping()

    db_check, redis_check = await asyncio.gather(
        _check("database", database, DATABASE_CHECK_SECONDS),
        _check("redis", redis, REDIS_CHECK_SECONDS),
    )
    by_name: dict[Literal["database", "redis"], DependencyCheck] = {
        "database": db_check,
        "redis": redis_check,
    }
    for name, check in by_name.items():
        DEPENDENCY_UP.labels(spec.name, name).set(1 if check.status == "ok" else 0)
    failed = [name for name, check in by_name.items() if check.status != "ok"]
    status: Literal["ok", "degraded", "unavailable"] = "ok"
    if any(by_name[name].required for name in failed):
        status = "unavailable"
    elif failed:
        status = "degraded"
    return Readiness(
        status=status,
        service=spec.name,
        failed=failed,
        checks=ReadinessChecks(database=db_check, redis=redis_check),
    )


def _add_ops_routes(app: FastAPI, spec: ServiceSpec) -> None:
    @app.get(
        "/healthz",
        tags=["ops"],
        summary="Liveness: the process answers",
        response_model=Liveness,
    )
    async def healthz() -> Liveness:
        """Answers 200 whenever the process runs; checks nothing else (see `/readyz`)."""
        return Liveness(status="ok", service=spec.name)

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness: database reachable (Redis checked and reported)",
        response_model=Readiness,
        responses={
            503: {
                "model": Readiness,
                "description": "A required dependency (the database) failed its check; "
                "`failed` names it",
            }
        },
    )
    async def readyz(request: Request, response: Response) -> Readiness:
        """Checks the database (`SELECT 1`, 2 s) and Redis (`PING`, 1 s) at once. 503 when the
        database fails; Redis down answers 200 with status `degraded` (the outbox keeps what
        the API accepts). `failed` lists every dependency whose check failed."""
        readiness = await check_readiness(request.app, spec)
        if readiness.status == "unavailable":
            response.status_code = 503
        return readiness

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # yingshang_dependency_up stays current between probes (compose probes every 15 s).
        await check_readiness(request.app, spec)
        await _refresh_gauges(request.app, spec)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _refresh_gauges(app: FastAPI, spec: ServiceSpec) -> None:
    model = spec.outbox_model
    try:
        async with app.state.sessionmaker() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(model.created_at)).where(
                        model.confirmed_at.is_(None)
                    )
                )
            ).one()
        OUTBOX_BACKLOG.labels(spec.name).set(count)
        age = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:
                from datetime import UTC

                oldest = oldest.replace(tzinfo=UTC)
            age = (utcnow() - oldest).total_seconds()
        OUTBOX_OLDEST_AGE.labels(spec.name).set(age)
        if spec.refresh_metrics is not None:
            async with app.state.sessionmaker() as session:
                await spec.refresh_metrics(session)
    except Exception:  # metrics must render even when the database is down
        pass
    queue: QueueClient | None = app.state.queue
    if queue is not None:
        try:
            QUEUE_DEPTH.labels(spec.name).set(await queue.redis.zcard(spec.name))
        except (RedisError, OSError):
            pass


# A control byte in a query string, raw or percent-encoded (%00-%1F, %7F).
_QUERY_CONTROL = re.compile(rb"[\x00-\x1f\x7f]|%(?:[01][0-9a-fA-F]|7[fF])")


async def refuse_control_characters_in_url(request: Request) -> None:
    """Path and query parameters are single-line values under the one rule of
    ``shared.schemas.text`` (no C0 control or DEL; PostgreSQL cannot even store NUL): refused
    here as a validation error of type ``control_characters`` rather than failing a lookup in the
    database driver. A dependency of every route (not a middleware), so routes with their own
    error shape (Open311) render it themselves. ``async`` because FastAPI runs a plain ``def``
    dependency in a thread pool: a thread hop on every request."""
    # Straight from the ASGI scope: this runs on every request, and request.url builds a URL.
    path: str = request.scope["path"]
    query: bytes = request.scope.get("query_string") or b""
    where: tuple[str, ...] | None = None
    if has_control_characters(path, multiline=False):
        where = ("path",)
    elif _QUERY_CONTROL.search(query):
        name = next(
            (k for k, v in request.query_params.multi_items()
             if has_control_characters(k + v, multiline=False)),
            "",
        )  # fmt: skip
        where = ("query", name) if name else ("query",)
    if where is not None:
        raise RequestValidationError(
            [{"type": CONTROL_CHARACTERS_ERROR, "loc": where, "msg": CONTROL_CHARACTERS_MESSAGE,
              "input": None}]
        )  # fmt: skip


class RequestGuardMiddleware:
    """Refuse bodies over the limit (413), by Content-Length or while streaming (chunked).

    A refused body is cut short and the endpoint's answer replaced by ours, since frameworks turn
    errors raised while reading the body into their own 400s.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        received = 0
        refused = False

        async def guarded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, guarded_receive, guarded_send)
        if refused:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Any = render(413, "payload_too_large", "请求体过大", "Request body too large")
        await response(scope, receive, send)
