"""Optional OpenTelemetry trace export, configured by the environment.

Nothing happens unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set *and* the OpenTelemetry SDK and an OTLP exporter are installed. They are not dependencies
of Yingshang; an image that wants them installs them at build time (``deploy/README.md``,
"Tracing"):

    opentelemetry-sdk
    opentelemetry-exporter-otlp-proto-http    (or -proto-grpc; OTEL_EXPORTER_OTLP_PROTOCOL picks)
    opentelemetry-instrumentation-fastapi     (server spans; optional)
    opentelemetry-instrumentation-httpx       (client spans + traceparent on REST calls; optional)
    opentelemetry-instrumentation-aiohttp-client  (the same for webhooks, which httpx sends
                                              through aiohttp; optional)
    opentelemetry-instrumentation-sqlalchemy  (database spans; optional)
    opentelemetry-instrumentation-redis       (queue spans; optional)

Every other ``OTEL_*`` variable (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``, ``OTEL_EXPORTER_OTLP_HEADERS``, ...) is read by the SDK itself.
The modules are imported by name, so this file type-checks and runs without them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import structlog

__all__ = ["configure_tracing", "current_trace_id", "tracing_requested"]

log = structlog.get_logger(__name__)

# Health checks and scrapes would otherwise be most of the spans.
EXCLUDED_URLS = "healthz,readyz,metrics"

_EXPORTERS = {
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
}

_provider: Any = None
_instrumented_app_ids: set[int] = set()


def tracing_requested() -> bool:
    """True when the environment asks for trace export (an OTLP endpoint is configured)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing(app: Any | None, service: str) -> bool:
    """Export traces over OTLP when configured; a no-op otherwise. Returns whether it is on.

    Call it once per process: with the FastAPI app at the end of the app factory (server spans
    for every request but health checks and scrapes), or with ``app=None`` in a worker's start-up
    (client spans of httpx, SQLAlchemy and Redis). ``service`` names the process
    (``intake``, ``routing-worker``, ...) unless ``OTEL_SERVICE_NAME`` is set.
    """
    if not tracing_requested():
        return False
    provider = _setup_provider(service)
    if provider is None:
        return False
    if app is not None and id(app) not in _instrumented_app_ids:
        fastapi_instrumentation = _optional("opentelemetry.instrumentation.fastapi")
        if fastapi_instrumentation is not None:
            fastapi_instrumentation.FastAPIInstrumentor.instrument_app(
                app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS
            )
            _instrumented_app_ids.add(id(app))
        else:
            log.warning("tracing.fastapi_instrumentation_missing", service=service)
    return True


def current_trace_id() -> str | None:
    """The 32-hex trace id of the active span, if tracing is on and a span is recording."""
    if _provider is None:
        return None
    trace = _optional("opentelemetry.trace")
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}"


def _setup_provider(service: str) -> Any:
    global _provider
    if _provider is not None:
        return _provider
    trace = _optional("opentelemetry.trace")
    sdk_trace = _optional("opentelemetry.sdk.trace")
    sdk_export = _optional("opentelemetry.sdk.trace.export")
    sdk_resources = _optional("opentelemetry.sdk.resources")
    if trace is None or sdk_trace is None or sdk_export is None or sdk_resources is None:
        log.warning("tracing.sdk_missing", hint="install opentelemetry-sdk to export traces")
        return None
    exporter_module = _exporter_module()
    if exporter_module is None:
        log.warning(
            "tracing.exporter_missing",
            hint="install opentelemetry-exporter-otlp-proto-http (or -proto-grpc)",
        )
        return None

    name = os.environ.get("OTEL_SERVICE_NAME") or f"yingshang-{service}"
    # Resource.create also merges OTEL_RESOURCE_ATTRIBUTES.
    resource = sdk_resources.Resource.create(
        {"service.name": name, "service.namespace": "yingshang"}
    )
    provider = sdk_trace.TracerProvider(resource=resource)
    # The exporter reads its endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*.
    provider.add_span_processor(sdk_export.BatchSpanProcessor(exporter_module.OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    _instrument_libraries(provider)
    log.info("tracing.enabled", service_name=name, exporter=exporter_module.__name__)
    return provider


def _exporter_module() -> ModuleType | None:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    preferred = _EXPORTERS.get(protocol, _EXPORTERS["http/protobuf"])
    for module_name in (preferred, *(m for m in _EXPORTERS.values() if m != preferred)):
        module = _optional(module_name)
        if module is not None:
            if module_name != preferred:
                log.warning("tracing.exporter_fallback", wanted=protocol, using=module_name)
            return module
    return None


def _instrument_libraries(provider: Any) -> None:
    """Process-wide client instrumentations, each only if its package is installed."""
    for module_name, class_name in (
        ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
        ("opentelemetry.instrumentation.aiohttp_client", "AioHttpClientInstrumentor"),
        ("opentelemetry.instrumentation.sqlalchemy", "SQLAlchemyInstrumentor"),
        ("opentelemetry.instrumentation.redis", "RedisInstrumentor"),
    ):
        module = _optional(module_name)
        if module is None:
            continue
        instrumentor = getattr(module, class_name)()
        if not instrumentor.is_instrumented_by_opentelemetry:
            try:
                instrumentor.instrument(tracer_provider=provider)
            except Exception as exc:  # an instrumentation must never stop the service
                log.warning("tracing.instrumentation_failed", module=module_name, error=str(exc))


def _optional(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None
