"""JSON logs with request and trace ids, PII masking, and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.identifiers import mask_pii_in_text

__all__ = [
    "DEPENDENCY_UP",
    "EVENTS_HANDLED",
    "EVENT_OUTCOMES",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "OUTBOX_BACKLOG",
    "OUTBOX_OLDEST_AGE",
    "QUEUE_DEPTH",
    "RequestContextMiddleware",
    "bind_trace",
    "configure_logging",
    "current_request_id",
    "current_trace_id",
]

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)

HTTP_REQUESTS = Counter(
    "yingshang_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "yingshang_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge(
    "yingshang_outbox_unconfirmed", "Outbox events not yet confirmed delivered", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "yingshang_outbox_oldest_unconfirmed_seconds",
    "Age of the oldest unconfirmed event",
    ["service"],
)
QUEUE_DEPTH = Gauge("yingshang_queue_depth", "Jobs waiting in an arq queue", ["queue"])
EVENTS_HANDLED = Counter(
    "yingshang_events_handled_total", "Events consumed", ["service", "event_type", "outcome"]
)
# What /readyz found at its last check (every probe and every scrape of /metrics); Redis is
# reported here even though it does not make an API unready.
DEPENDENCY_UP = Gauge(
    "yingshang_dependency_up",
    "1 if the API's last readiness check reached the dependency, else 0",
    ["service", "dependency"],
)
# The outcomes the event consumer reports (services.inbox); the worker creates these series at
# start, so that a scrape shows them at 0 and increase() sees the first event.
EVENT_OUTCOMES = ("handled", "duplicate", "ignored")


def current_request_id() -> str | None:
    return _request_id.get()


def current_trace_id() -> str | None:
    return _trace_id.get()


def bind_trace(trace_id: str | None, **fields: Any) -> None:
    """Carry a trace id across the queue: set it (or a new one) for this job's logs."""
    _trace_id.set(trace_id or uuid.uuid4().hex)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(trace_id=_trace_id.get(), **fields)


def _mask_pii(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Phone and ID numbers never reach the log sink, whatever field they hide in.
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_pii_in_text(value)
    return event_dict


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _mask_pii,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # Below the level, stop before the processors run: every request's access log and
        # every debug line would otherwise be rendered for the stdlib logger to drop.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                lambda _l, _n, ed: {**ed, "service": service},
                renderer,
            ],
            foreign_pre_chain=shared_processors,
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn configured its own handlers before importing the app: route them through ours.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log duplicates ours (which carries the request id and route), and arq
    # logs every cron tick at INFO.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("arq").setLevel(max(logging.WARNING, root.level))


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, trace id, access log and HTTP metrics per route."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.log = structlog.get_logger("access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        trace_id = _trace_from_headers(headers) or request_id
        _request_id.set(request_id)
        _trace_id.set(trace_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(self.service, method, route_path, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route_path).observe(elapsed)
            if route_path not in ("/healthz", "/readyz", "/metrics"):
                self.log.info(
                    "http.request",
                    method=method,
                    path=scope.get("path"),
                    route=route_path,
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )


def _trace_from_headers(headers: dict[bytes, bytes]) -> str | None:
    # W3C traceparent: version-traceid-spanid-flags
    traceparent = headers.get(b"traceparent")
    if traceparent:
        parts = traceparent.decode("latin-1").split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return parts[1]
    return None
