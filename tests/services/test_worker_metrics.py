"""``python -m services`` serves what Prometheus needs: the launcher runs, the targets file it
writes for deploy/observability/prometheus-local.yaml is read back, and every target (APIs and
workers) is scraped and parsed as Prometheus would; the workers serve the series the worker
alerts read."""

from __future__ import annotations

import json
import random
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.launcher import HOST, WORKER_METRICS_BASE
from services.observability import EVENT_OUTCOMES
from services.registry import available_specs
from tests.fixtures.processes import spawn, stop

# What the worker alerts (deploy/observability/alerts.yaml) read; families drop `_total`.
WORKER_FAMILIES = {
    "intake": {"yingshang_events_handled"},
    "routing": {"yingshang_events_handled", "yingshang_webhook_deliveries"},
    "scoring": {"yingshang_events_handled"},
}


def free_offset() -> int:
    """A --port-offset under which every API and worker port of the launcher is free."""
    specs = available_specs()
    for _ in range(50):
        offset = random.randrange(1000, 20000)
        wanted = [spec.port + offset for spec in specs]
        wanted += [WORKER_METRICS_BASE + spec.port % 100 + offset for spec in specs]
        if all(_is_free(port) for port in wanted):
            return offset
    raise AssertionError("no free port range")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


@pytest.fixture
def launcher(test_database: str, tmp_path: Path) -> Iterator[Path]:
    """``python -m services`` on the test database and Redis (migrated already); yields the
    Prometheus targets file it writes."""
    env = {"VAR_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "services", "--no-migrate", "--port-offset", str(free_offset())]
    process = spawn(argv, env, tmp_path / "launcher.log")
    targets = tmp_path / "prometheus" / "targets.json"
    try:
        deadline = time.monotonic() + 20
        while not targets.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert targets.exists(), (tmp_path / "launcher.log").read_text()[-2000:]
        yield targets
    finally:
        stop(process)  # SIGTERM: the launcher stops its children


def scrape(url: str, ready: Any, timeout: float = 20.0) -> str:
    """The metrics text once ``ready(text)`` holds (a worker starts in a few seconds)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code == 200:
                text = response.text
                if ready(text):
                    return text
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url}: no worker series after {timeout}s:\n{text[-2000:]}")


def has_handled_series(text: str) -> bool:
    return any(
        f.name == "yingshang_events_handled" and f.samples
        for f in text_string_to_metric_families(text)
    )


@pytest.mark.slow
def test_every_launcher_target_serves_its_series(launcher: Path) -> None:
    groups = json.loads(launcher.read_text())
    by_component = {g["labels"]["component"]: g["targets"] for g in groups}
    assert set(by_component) == {
        f"{name}-{role}" for name in WORKER_FAMILIES for role in ("api", "worker")
    }
    for service, families in WORKER_FAMILIES.items():
        (target,) = by_component[f"{service}-worker"]
        assert target.startswith(f"{HOST}:")
        text = scrape(f"http://{target}/metrics", has_handled_series)
        found = {f.name: f for f in text_string_to_metric_families(text)}
        assert families <= set(found), f"{service}: {families - set(found)} not served"
        assert found["yingshang_events_handled"].type == "counter"
        # Every event type the worker handles has its series from the start, at 0.
        samples = [
            s for s in found["yingshang_events_handled"].samples if s.name.endswith("_total")
        ]
        assert {s.labels["service"] for s in samples} == {service}
        assert {s.labels["outcome"] for s in samples} == set(EVENT_OUTCOMES)
        assert all(s.value == 0 for s in samples)
        if service == "routing":
            assert found["yingshang_webhook_deliveries"].type == "counter"
        # And the API beside it, with what its readiness check found.
        (api,) = by_component[f"{service}-api"]
        text = scrape(f"http://{api}/metrics", lambda t: "yingshang_dependency_up{" in t)
        up = {
            s.labels["dependency"]: s.value
            for f in text_string_to_metric_families(text)
            if f.name == "yingshang_dependency_up"
            for s in f.samples
        }
        assert up == {"database": 1.0, "redis": 1.0}, service
