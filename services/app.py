"""The FastAPI app factory every service uses: lifespan resources, middleware, ops endpoints."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.db import service_engine, service_sessionmaker
from services.errors import add_exception_handlers, render
from services.headers import EXPOSED_HEADERS, REQUEST_HEADERS
from services.labels import router as labels_router
from services.models import utcnow
from services.observability import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    QUEUE_DEPTH,
    RequestContextMiddleware,
    configure_logging,
)
from services.queue import QueueClient, RedisError
from services.ratelimit import RateLimitHeadersMiddleware
from services.responses import JSONResponse
from services.runtime import settle_heap
from services.spec import ServiceSpec
from services.tracing import configure_tracing
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
    _document_single_line_parameters(app)
    return app


# What refuse_control_characters_in_url enforces, stated in the OpenAPI description so that
# generated clients and fuzzers know a path or query string is one line of text.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"


def _document_single_line_parameters(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    for parameter in operation.get("parameters", []):
                        outer = parameter.get("schema", {})
                        for variant in outer.get("anyOf", [outer]):
                            if variant.get("type") == "string" and not (
                                variant.keys() & {"pattern", "format", "enum", "const"}
                            ):
                                variant["pattern"] = SINGLE_LINE_PATTERN
            return schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_ops_routes(app: FastAPI, spec: ServiceSpec) -> None:
    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database and Redis reachable")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with request.app.state.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure means not ready
            checks["database"] = f"error: {type(exc).__name__}"
        queue: QueueClient | None = request.app.state.queue
        checks["redis"] = "ok" if queue is not None and await queue.ping() else "error"
        # Redis down does not make an API unready: writes still commit to the outbox and the
        # relay delivers them later, so pulling every pod out of the Service would only refuse
        # submissions the platform can keep.
        ready = checks["database"] == "ok"
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
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
