"""The load generator, run as its own process: ``python -m bench.loadgen '<json config>'``.

A minimal HTTP/1.1 keep-alive client on uvloop with httptools' parser (both ship with
``uvicorn[standard]``): about a tenth of httpx's CPU per request, which matters on a 2-core
machine where every cycle the generator burns is taken from the server under test.

Modes:
  * ``closed``: ``concurrency`` connections, each sending its next request as soon as the
    previous answer arrives (peak throughput at that concurrency);
  * ``open``: requests at a fixed ``rate`` whether or not earlier ones have been answered, with
    latency measured from the *scheduled* send time (no coordinated omission), over at most
    ``concurrency`` connections.

Only requests started after ``warmup`` seconds and finished before the end of the window are
timed. Prints one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httptools
import orjson

from bench.stats import summarize
from bench.workload import Workload


class Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        body, self.chunks = b"".join(self.chunks), []
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = self.loop.create_future()
        self.transport.write(data)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


@dataclass
class Recorder:
    measure_from: float
    measure_until: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ok_status: int = 201
    completed_total: int = 0
    samples: list[str] = field(default_factory=list)

    def record(self, started: float, finished: float, status: int, body: bytes) -> None:
        self.completed_total += 1
        if started < self.measure_from or finished > self.measure_until:
            return
        self.statuses[status] += 1
        if status == self.ok_status:
            self.latencies.append((finished - started) * 1000)
        elif len(self.samples) < 3:
            self.samples.append(f"{status}: {body[:300].decode(errors='replace')}")

    def error(self, started: float, exc: BaseException) -> None:
        if started >= self.measure_from:
            self.errors[type(exc).__name__] += 1


class Generator:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.host = config.get("host", "127.0.0.1")
        # Several ports: one per API process; new connections take them in turn.
        self.ports = [int(port) for port in config.get("ports") or [config["port"]]]
        self.port = self.ports[0]
        self.connections_opened = 0
        self.kind = config.get("kind", "json")
        self.api_key = config["api_key"]
        self.workload = Workload(int(config.get("seed", 1)), int(config.get("phone_base", 0)))
        self.index = 0
        self.timeout = float(config.get("timeout", 30))
        if self.kind == "open311":
            path, ctype, extra = (
                "/open311/v2/requests.json",
                "application/x-www-form-urlencoded",
                "",
            )
        else:
            path, ctype, extra = (
                "/v1/requests",
                "application/json",
                f"X-API-Key: {self.api_key}\r\n",
            )
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {ctype}\r\n"
            f"{extra}Content-Length: "
        )

    def next_request(self) -> bytes:
        self.index += 1
        if self.kind == "open311":
            body = self.workload.open311_form(self.index, self.api_key)
        else:
            body = self.workload.json_body(self.index)
        return (self.head + f"{len(body)}\r\n\r\n").encode() + body

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        port = self.ports[self.connections_opened % len(self.ports)]
        self.connections_opened += 1
        _transport, protocol = await loop.create_connection(
            lambda: Connection(loop), self.host, port
        )
        return protocol

    async def send(self, conn: Connection, recorder: Recorder, started: float) -> None:
        status, body = await asyncio.wait_for(conn.request(self.next_request()), self.timeout)
        recorder.record(started, time.perf_counter(), status, body)

    async def closed_loop(self, concurrency: int, warmup: float, duration: float) -> Recorder:
        begin = time.perf_counter()
        recorder = Recorder(begin + warmup, begin + warmup + duration, ok_status=self.ok_status)
        stop_at = recorder.measure_until

        async def worker() -> None:
            conn: Connection | None = None
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    if conn is None or conn.closed:
                        conn = await self.connect()
                    await self.send(conn, recorder, started)
                except (OSError, TimeoutError, RuntimeError, httptools.HttpParserError) as exc:
                    recorder.error(started, exc)
                    if conn is not None:
                        conn.close()
                    conn = None
                    await asyncio.sleep(0.01)
            if conn is not None:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return recorder

    async def open_loop(
        self, rate: float, concurrency: int, warmup: float, duration: float
    ) -> Recorder:
        begin = time.perf_counter() + 0.2
        recorder = Recorder(begin + warmup, begin + warmup + duration, ok_status=self.ok_status)
        idle: list[Connection] = []
        total_conns = 0
        freed = asyncio.Condition()
        lags: list[float] = []

        async def one(scheduled: float) -> None:
            nonlocal total_conns
            async with freed:
                while not idle and total_conns >= concurrency:
                    await freed.wait()
                conn = idle.pop() if idle else None
                if conn is None:
                    total_conns += 1
            try:
                if conn is None or conn.closed:
                    conn = await self.connect()
                lags.append(time.perf_counter() - scheduled)
                await self.send(conn, recorder, scheduled)
            except (OSError, TimeoutError, RuntimeError, httptools.HttpParserError) as exc:
                recorder.error(scheduled, exc)
                if conn is not None:
                    conn.close()
                conn = None
            async with freed:
                if conn is not None and not conn.closed:
                    idle.append(conn)
                else:
                    total_conns -= 1
                freed.notify()

        count = int((warmup + duration) * rate)
        tasks: list[asyncio.Task[None]] = []
        for i in range(count):
            scheduled = begin + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.wait(tasks, timeout=self.timeout + 5)
        for conn in idle:
            conn.close()
        recorder.lag_ms = summarize([x * 1000 for x in lags])  # type: ignore[attr-defined]
        return recorder

    @property
    def ok_status(self) -> int:
        return 200 if self.kind == "open311" else 201


async def run(config: dict[str, Any]) -> dict[str, Any]:
    generator = Generator(config)
    mode = config.get("mode", "closed")
    warmup = float(config.get("warmup", 2))
    duration = float(config.get("duration", 10))
    concurrency = int(config.get("concurrency", 16))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if mode == "open":
        recorder = await generator.open_loop(float(config["rate"]), concurrency, warmup, duration)
    else:
        recorder = await generator.closed_loop(concurrency, warmup, duration)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    ok = recorder.statuses.get(generator.ok_status, 0)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "mode": mode,
        "kind": generator.kind,
        "concurrency": concurrency,
        "rate_target": config.get("rate"),
        "window_s": duration,
        "ok": ok,
        "ok_per_s": round(ok / duration, 1),
        "statuses": {str(k): v for k, v in recorder.statuses.items()},
        "errors": dict(recorder.errors),
        "error_samples": recorder.samples,
        "latency_ms": summarize(recorder.latencies),
        "schedule_lag_ms": getattr(recorder, "lag_ms", None),
        "completed_total": recorder.completed_total,
        "client_cpu_s": round(cpu, 2),
        "client_cpu_us_per_request": round(cpu / max(recorder.completed_total, 1) * 1e6, 1),
    }


def main() -> None:
    import uvloop

    config = orjson.loads(sys.argv[1])
    result = uvloop.run(run(config))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
