"""services/tracing.py: OpenTelemetry export only when asked for by the environment *and* the
packages are installed; never a dependency, never an error."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from types import ModuleType

import pytest
from fastapi import FastAPI

from services import tracing
from tests.deploy.crosscheck import ROOT

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
)


@pytest.fixture
def fresh_tracing(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracing, "_provider", None)
    monkeypatch.setattr(tracing, "_instrumented_app_ids", set())
    return tracing


def test_off_without_an_endpoint(fresh_tracing: ModuleType) -> None:
    app = FastAPI()
    assert fresh_tracing.tracing_requested() is False
    assert fresh_tracing.configure_tracing(app, "intake") is False
    assert fresh_tracing.configure_tracing(None, "intake-worker") is False
    assert fresh_tracing.current_trace_id() is None
    assert fresh_tracing._provider is None


@pytest.mark.parametrize(
    ("variable", "value"), [("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")]
)
def test_off_when_the_sdk_is_disabled(
    fresh_tracing: ModuleType, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv(variable, value)
    assert fresh_tracing.configure_tracing(FastAPI(), "intake") is False


def test_off_when_the_packages_are_missing(
    fresh_tracing: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    real = tracing._optional
    monkeypatch.setattr(
        tracing,
        "_optional",
        lambda name: None if name.startswith("opentelemetry.sdk") else real(name),
    )
    assert fresh_tracing.configure_tracing(FastAPI(), "intake") is False
    assert fresh_tracing._provider is None


def test_off_when_no_exporter_is_installed(
    fresh_tracing: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    real = tracing._optional
    monkeypatch.setattr(
        tracing,
        "_optional",
        lambda name: None if name.startswith("opentelemetry.exporter") else real(name),
    )
    assert fresh_tracing.configure_tracing(FastAPI(), "intake") is False


def test_importing_the_module_imports_no_opentelemetry() -> None:
    code = (
        "import sys, services.tracing; "
        "sys.exit(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


SDK_INSTALLED = all(
    importlib.util.find_spec(name) is not None
    for name in (
        "opentelemetry.sdk",
        "opentelemetry.exporter.otlp.proto.http",
        "opentelemetry.instrumentation.fastapi",
    )
)

EXPORT_SCRIPT = textwrap.dedent(
    """
    import asyncio, http.server, os, threading

    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}"

    import httpx
    from fastapi import FastAPI
    from services import tracing

    app = FastAPI()

    @app.get("/v1/ping")
    async def ping():
        return {"ok": True}

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    assert tracing.configure_tracing(app, "intake") is True
    assert tracing.configure_tracing(app, "intake") is True  # a second call changes nothing

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/v1/ping")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200

    asyncio.run(main())
    tracing._provider.force_flush()
    server.shutdown()
    body = b"".join(b for _, b in received)
    assert [p for p, _ in received] and all(p == "/v1/traces" for p, _ in received), received
    assert b"/v1/ping" in body, "the request span was not exported"
    assert b"/healthz" not in body, "health checks must not be traced"
    assert b"yingshang-intake" in body, "service.name missing"
    print("exported")
    """
)


@pytest.mark.skipif(not SDK_INSTALLED, reason="OpenTelemetry SDK not installed (optional)")
def test_exports_request_spans_over_otlp_http() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exported" in result.stdout
