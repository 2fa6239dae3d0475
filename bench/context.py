"""What every benchmark gets: the results, the mode and helpers to talk to the bench database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench import env
from bench.results import Results


@dataclass
class Context:
    results: Results
    quick: bool
    sizes: list[int] = field(default_factory=lambda: [100_000, 1_000_000])
    deadline: float = 0.0  # monotonic time after which optional extras are skipped

    def note(self, section: str, text: str) -> None:
        print(f"  note: {text}", flush=True)
        self.results.section(section).setdefault("notes", []).append(text)

    def detail(self, section: str, key: str, value: Any) -> None:
        self.results.section(section)[key] = value

    def time_left(self) -> float:
        return self.deadline - time.monotonic() if self.deadline else float("inf")


@asynccontextmanager
async def connect(**kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(env.DSN, **kwargs)
    try:
        yield connection
    finally:
        await connection.close()


async def db_counters() -> dict[str, int]:
    """Cumulative counters of the bench database (commits, rows written) for per-request deltas."""
    async with connect() as connection:
        row = await connection.fetchrow(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_returned, tup_fetched "
            "FROM pg_stat_database WHERE datname = $1",
            env.DB_NAME,
        )
    return dict(row) if row else {}


def delta(after: dict[str, int], before: dict[str, int], per: float) -> dict[str, float]:
    return {k: round((after[k] - before.get(k, 0)) / per, 2) for k in after} if per else {}


async def checkpoint() -> None:
    """Start a measurement with no checkpoint due (it would land in the middle of a short run)."""
    async with connect() as connection:
        await connection.execute("CHECKPOINT")
