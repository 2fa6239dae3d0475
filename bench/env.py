"""The bench's environment: the throwaway database and Redis database, the service processes it
starts, and what it measures about the machine.

Everything the suite creates is registered here and removed by :func:`cleanup`, which the entry
point runs in a ``finally`` (also on Ctrl-C and SIGTERM): the ``ys_bench`` database is dropped,
Redis database 5 is flushed and every process the bench started is stopped by its own id.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
# Overridable so two people can bench on one box without dropping each other's database.
DB_NAME = os.environ.get("BENCH_DB_NAME", "ys_bench")
ADMIN_DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}"
SA_URL = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}"
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "5"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{REDIS_DB}")
SECRET_KEY = "bench-only-secret-key-0123456789-abcdefghij"
LOG_DIR = Path(tempfile.gettempdir()) / "ys-bench-logs"
VAR_DIR = Path(tempfile.gettempdir()) / "ys-bench-var"
# --profile: py-spy samples every service process and writes collapsed stacks next to its log
PROFILE = {"enabled": False}


def service_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of every service process (and of this process, see :func:`configure`)."""
    env = {
        "ENV": "development",
        "DATABASE_URL": DSN,
        "REDIS_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "true",
        "SECRET_KEY": SECRET_KEY,
        "VAR_DIR": str(VAR_DIR),
    }
    env.update(extra or {})
    return env


def configure() -> None:
    """Point this process's own service settings at the bench database before any import of a
    service module reads them."""
    os.environ.update(service_env())
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    # Service code run in this process (ticks, scorecards) logs like a service at LOG_LEVEL.
    from services.observability import configure_logging

    configure_logging("bench", level="WARNING", json=True)


# ------------------------------------------------------------------------------ processes


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    profiler: subprocess.Popen[bytes] | None = None


@dataclass
class Processes:
    """Every process the bench started, so that cleanup can stop exactly those."""

    items: list[Started] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Started:
        log = LOG_DIR / f"{name}.log"
        handle = log.open("ab")
        process = subprocess.Popen(
            argv,
            env={**os.environ, **service_env(env)},
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn's worker children included
        )
        handle.close()
        started = Started(name, process, log)
        if PROFILE["enabled"]:
            stacks = LOG_DIR / f"{name}.{process.pid}.stacks"
            started.profiler = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(process.pid),
                    "--subprocesses",
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(stacks),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self.items.append(started)
        return started

    def stop(self, started: Started, timeout: float = 15.0) -> None:
        process = started.process
        if started.profiler is not None:  # Ctrl-C is py-spy's cue to write what it sampled
            started.profiler.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.profiler.wait(timeout=30)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        # uvicorn's --workers children share the group; make sure none outlives its parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if started in self.items:
            self.items.remove(started)

    def stop_all(self) -> None:
        for started in list(reversed(self.items)):
            self.stop(started)


PROCESSES = Processes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_argv(
    service: str, port: int, *, workers: int = 1, fast: bool = True, app: str | None = None
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        app or f"{service}_service.app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-keep-alive",
        "30",
    ]
    if workers > 1:
        argv += ["--workers", str(workers)]
    argv += (
        ["--loop", "uvloop", "--http", "httptools"]
        if fast
        else ["--loop", "asyncio", "--http", "h11"]
    )
    return argv


def worker_argv(service: str) -> list[str]:
    return [sys.executable, "-m", "services.run_worker", service]


def wait_http(url: str, timeout: float = 30.0, process: Started | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.process.poll() is not None:
            raise RuntimeError(f"{process.name} exited; see {process.log}:\n{tail(process.log)}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not up after {timeout}s")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ------------------------------------------------------------------------------ CPU accounting


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [pid], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in _descendants(pid):
        try:
            with open(f"/proc/{each}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


_PG_AUX = (
    "walwriter",
    "checkpointer",
    "background writer",
    "autovacuum",
    "stats",
    "logical replication",
)


def _classify(pid: int) -> str | None:
    """Which kind of infrastructure process ``pid`` is, if any (see :func:`infrastructure`)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            title = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    if title.startswith("postgres:"):
        if f" {DB_NAME} " in title:
            return "postgres"
        if any(word in title for word in _PG_AUX):
            return "postgres_background"
        return None
    if "redis-server" in title and ":6379" in title:
        return "redis"
    return None


def _cpu_of(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def infrastructure(known: Mapping[int, str] | None = None) -> dict[int, tuple[str, float]]:
    """CPU seconds of the processes that serve the bench but are not started by it, by pid:
    PostgreSQL backends connected to the bench database (the process title names it:
    ``postgres: 15/main: postgres ys_bench 127.0.0.1(…)``), PostgreSQL's background processes
    (WAL writer, checkpointer…; shared with anyone else using the server) and redis-server.
    With ``known`` (pid → kind) only those processes are read (cheap)."""
    found: dict[int, tuple[str, float]] = {}
    if known is None:
        kinds = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                kind = _classify(int(entry))
                if kind is not None:
                    kinds[int(entry)] = kind
    else:
        kinds = dict(known)
    for pid, kind in kinds.items():
        seconds = _cpu_of(pid)
        if seconds is not None:
            found[pid] = (kind, seconds)
    return found


def system_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        parts = [int(x) for x in handle.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


class _Sampler(threading.Thread):
    """Samples the infrastructure processes' CPU every ``period`` seconds, so that backends
    which exit during the measurement (pool overflow connections are closed on check-in) still
    count up to their last sample."""

    def __init__(self, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.first = infrastructure()
        self.last: dict[int, tuple[str, float]] = dict(self.first)
        self.done = threading.Event()

    def run(self) -> None:
        rounds = 0
        while not self.done.wait(self.period):
            rounds += 1
            # A full /proc scan (new backends) every other round; known pids in between.
            known = (
                None if rounds % 2 == 0 else {pid: kind for pid, (kind, _s) in self.last.items()}
            )
            self.last.update(infrastructure(known))

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join(timeout=5)
        self.last.update(infrastructure())
        by_kind: dict[str, float] = {"postgres": 0.0, "postgres_background": 0.0, "redis": 0.0}
        for pid, (kind, seconds) in self.last.items():
            before = self.first.get(pid)
            by_kind[kind] += seconds - (before[1] if before else 0.0)
        return by_kind


@contextlib.contextmanager
def cpu_meter(pids: Mapping[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """Measure over a block: the machine's busy cores, CPU seconds of the given processes (with
    their children), of the bench database's PostgreSQL backends (including those that exit
    meanwhile, see :class:`_Sampler`), of PostgreSQL's background processes and of Redis.

    :func:`foreign_share` is then what the rest of the machine used meanwhile: other people's
    work on a shared box, which the figures cannot account for.
    """
    result: dict[str, Any] = {}
    busy0, total0 = system_cpu()
    sampler = _Sampler()
    sampler.start()
    proc0 = {name: process_cpu_seconds(pid) for name, pid in (pids or {}).items()}
    bench0 = time.process_time()
    started = time.monotonic()
    try:
        yield result
    finally:
        elapsed = time.monotonic() - started
        by_kind = sampler.stop()
    busy1, total1 = system_cpu()
    cores = os.cpu_count() or 1
    result["wall_s"] = round(elapsed, 3)
    result["machine_busy"] = round((busy1 - busy0) / max(total1 - total0, 1.0), 3)
    result["machine_busy_cpu_s"] = round(result["machine_busy"] * cores * elapsed, 2)
    result["postgres_cpu_s"] = round(by_kind["postgres"], 2)
    result["postgres_background_cpu_s"] = round(by_kind["postgres_background"], 2)
    result["redis_cpu_s"] = round(by_kind["redis"], 2)
    result["process_cpu_s"] = {
        name: round(process_cpu_seconds(pid) - proc0[name], 2) for name, pid in (pids or {}).items()
    }
    # This process: where a benchmark generates load or receives webhooks itself.
    result["bench_cpu_s"] = round(time.process_time() - bench0, 2)


def foreign_share(cpu: dict[str, Any], own_extra_s: float = 0.0) -> float:
    """Share of the machine's capacity used by processes that are not the bench's (nor the
    PostgreSQL and Redis servers', nor the bench process itself)."""
    own = (
        sum(cpu["process_cpu_s"].values())
        + cpu["postgres_cpu_s"]
        + cpu["postgres_background_cpu_s"]
        + cpu["redis_cpu_s"]
        + cpu["bench_cpu_s"]
        + own_extra_s
    )
    capacity = (os.cpu_count() or 1) * cpu["wall_s"]
    return round(max(0.0, cpu["machine_busy_cpu_s"] - own) / max(capacity, 0.001), 3)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------ machine


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
                break
    info: dict[str, Any] = {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": loadavg(),
    }
    for package in ("uvicorn", "uvloop", "httptools", "fastapi", "sqlalchemy", "asyncpg", "arq"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            info.setdefault("packages", {})[package] = version(package)
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        info["git_commit"] = commit + ("+dirty" if dirty else "")
    return info


async def server_versions() -> dict[str, Any]:
    import asyncpg
    from redis.asyncio import Redis

    out: dict[str, Any] = {}
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        out["postgresql"] = await connection.fetchval("SHOW server_version")
        settings = await connection.fetch(
            "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1::text[])",
            [
                "shared_buffers",
                "synchronous_commit",
                "fsync",
                "max_connections",
                "work_mem",
                "wal_level",
            ],
        )
        out["postgresql_settings"] = {r["name"]: r["value"] for r in settings}
    finally:
        await connection.close()
    redis = Redis.from_url(REDIS_URL)
    try:
        info = await redis.info("server")
        out["redis"] = info.get("redis_version")
    finally:
        await redis.aclose()
    return out


def pgbench_path() -> str | None:
    import shutil

    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    return None


def pgbench_version() -> str | None:
    path = pgbench_path()
    if path is None:
        return None
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"(\d+(\.\d+)*)", out)
    return match.group(1) if match else out.strip()


# ------------------------------------------------------------------------------ database


async def create_database() -> None:
    """Drop and recreate ``ys_bench`` and run every service's migrations into it."""
    import asyncio

    import asyncpg

    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await admin.close()
    from services.migrations import upgrade
    from services.registry import available_specs

    for spec in available_specs():
        await asyncio.to_thread(upgrade, spec, SA_URL)


async def drop_database() -> None:
    import asyncpg

    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await admin.close()


async def flush_redis() -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


async def truncate(schema: str, tables: list[str] | None = None) -> None:
    """Empty a service's tables (all but alembic's) between runs."""
    import asyncpg

    connection = await asyncpg.connect(DSN)
    try:
        if tables is None:
            tables = [
                r["tablename"]
                for r in await connection.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> 'alembic_version'",
                    schema,
                )
            ]
        if tables:
            joined = ", ".join(f'"{schema}"."{t}"' for t in tables)
            await connection.execute(f"TRUNCATE {joined} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


def cleanup() -> list[str]:
    """Stop processes, flush Redis db 5, drop ys_bench. Never raises; returns what failed."""
    import asyncio

    problems: list[str] = []
    try:
        PROCESSES.stop_all()
    except Exception as exc:  # keep cleaning up
        problems.append(f"stop processes: {exc}")
    for step, coroutine in (("flush redis", flush_redis), ("drop database", drop_database)):
        try:
            asyncio.run(coroutine())
        except Exception as exc:  # keep cleaning up
            problems.append(f"{step}: {exc}")
    return problems
