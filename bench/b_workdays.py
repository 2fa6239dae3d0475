"""5. Working-day arithmetic: 1,000,000 ``default_calendar().add_working_days(start, n)`` calls
with receipt times spread over the two months around each of three new years (2024/25, 2025/26,
2026/27 — the last one is provisional if the library has no 2027 schedule) and limits of 1–20
working days, given as UTC datetimes like the services pass them.

* cold: a fresh calendar (process caches cleared), one pass — the year tables and the deadline
  window are built as it goes;
* warm: the same calls again.

Nothing is cached per call: every call converts its receipt to a local date and looks its
deadline up in the window, so no input order is slower than another (an earlier version memoised
results per (date, limit) and was three times slower when every key was new).

Baseline: 1,000,000 calls of a Python function that does nothing but build a (date, limit) key
(the floor of any per-call Python implementation).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from bench.context import Context
from bench.results import Figure, Target

SECTION = "workdays"
LIMITS = (1, 1, 2, 3, 5, 5, 5, 10, 10, 20)


def inputs(count: int, seed: int = 5) -> list[tuple[datetime, int]]:
    rnd = random.Random(seed)
    boundaries = [datetime(year, 1, 1, tzinfo=UTC) for year in (2025, 2026, 2027)]
    out = []
    for _ in range(count):
        centre = boundaries[rnd.randrange(len(boundaries))]
        start = centre + timedelta(seconds=rnd.randrange(-31 * 86400, 31 * 86400))
        out.append((start, LIMITS[rnd.randrange(len(LIMITS))]))
    return out


def _key_only(start: datetime, days: int) -> tuple[int, int]:
    return (start.toordinal(), days)


def run_sync(count: int) -> dict[str, float]:
    import shared.calendar._calendar as module
    from shared.calendar import default_calendar

    calls = inputs(count)
    results: dict[str, float] = {}

    started = time.perf_counter()
    for start, days in calls:
        _key_only(start, days)
    results["baseline_s"] = time.perf_counter() - started

    default_calendar.cache_clear()
    module._library_working_ordinals.cache_clear()
    calendar = default_calendar()
    started, cpu = time.perf_counter(), time.thread_time()
    for start, days in calls:
        calendar.add_working_days(start, days)
    results["cold_s"] = time.perf_counter() - started
    results["cold_cpu_s"] = time.thread_time() - cpu
    window = calendar._window
    results["window_years"] = window.last_year - window.first_year + 1

    started, cpu = time.perf_counter(), time.thread_time()
    for start, days in calls:
        calendar.add_working_days(start, days)
    results["warm_s"] = time.perf_counter() - started
    results["warm_cpu_s"] = time.thread_time() - cpu

    provisional = sum(
        1 for start, days in calls[:1000] if calendar.add_working_days(start, days).provisional
    )
    results["provisional_share"] = provisional / 1000
    return results


async def run(ctx: Context) -> None:
    import asyncio

    count = 1_000_000
    r = await asyncio.to_thread(run_sync, count)
    target = Target("<=", 1.0, text="<= 1 s")
    base = {
        "baseline": r["baseline_s"],
        "baseline_label": "1M calls of a function building a (date, limit) key",
    }
    ctx.results.add(
        Figure(
            "workdays.cold",
            SECTION,
            "1,000,000 add_working_days across new years, fresh calendar "
            f"(window built over {int(r['window_years'])} years)",
            r["cold_s"],
            "s",
            target=target,
            **base,
            notes=f"CPU {r['cold_cpu_s']:.2f} s (wall counts time other processes took the core); "
            f"{r['provisional_share']:.0%} of results provisional",
        )
    )
    ctx.results.add(
        Figure(
            "workdays.warm",
            SECTION,
            "1,000,000 add_working_days again, tables built",
            r["warm_s"],
            "s",
            **base,
            notes=f"CPU {r['warm_cpu_s']:.2f} s",
        )
    )
    ctx.detail(SECTION, "timings", r)
