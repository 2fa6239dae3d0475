"""5. Working-day arithmetic: 1,000,000 ``default_calendar().add_working_days(start, n)`` calls
with receipt times spread over the two months around each of three new years (2024/25, 2025/26,
2026/27 — the last one is provisional if the library has no 2027 schedule) and limits of 1–20
working days, given as UTC datetimes like the services pass them.

* cold: a fresh calendar (process caches cleared), one pass — the memo fills as it goes;
* warm: the same calls again;
* no memo: the memo disabled, so every call computes (the worst case: all keys distinct).

Baseline: 1,000,000 calls of a Python function that does nothing but build the memo key (the
floor of any per-call Python implementation).
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


def run_sync(count: int, quick: bool = False) -> dict[str, float]:
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
    results["memo_entries"] = len(calendar._memo)

    started, cpu = time.perf_counter(), time.thread_time()
    for start, days in calls:
        calendar.add_working_days(start, days)
    results["warm_s"] = time.perf_counter() - started
    results["warm_cpu_s"] = time.thread_time() - cpu

    if quick:
        return results
    limit = module._MEMO_LIMIT
    module._MEMO_LIMIT = 0  # every call clears the memo before storing its own result
    try:
        calendar._memo.clear()
        started, cpu = time.perf_counter(), time.thread_time()
        for start, days in calls:
            calendar.add_working_days(start, days)
        results["no_memo_s"] = time.perf_counter() - started
        results["no_memo_cpu_s"] = time.thread_time() - cpu
    finally:
        module._MEMO_LIMIT = limit
        calendar._memo.clear()
    provisional = sum(
        1 for start, days in calls[:1000] if calendar.add_working_days(start, days).provisional
    )
    results["provisional_share"] = provisional / 1000
    return results


async def run(ctx: Context) -> None:
    import asyncio

    count = 1_000_000
    r = await asyncio.to_thread(run_sync, count, ctx.quick)
    target = Target("<=", 1.0, text="<= 1 s")
    base = {
        "baseline": r["baseline_s"],
        "baseline_label": "1M calls of a function building the memo key",
    }
    ctx.results.add(
        Figure(
            "workdays.cold",
            SECTION,
            "1,000,000 add_working_days across new years, fresh calendar "
            f"(memo fills: {int(r['memo_entries']):,} distinct keys)",
            r["cold_s"],
            "s",
            target=target,
            **base,
            notes=f"CPU {r['cold_cpu_s']:.2f} s (wall counts time other processes took the core)",
        )
    )
    ctx.results.add(
        Figure(
            "workdays.warm",
            SECTION,
            "1,000,000 add_working_days, memo warm",
            r["warm_s"],
            "s",
            **base,
            notes=f"CPU {r['warm_cpu_s']:.2f} s",
        )
    )
    if "no_memo_s" not in r:
        ctx.detail(SECTION, "timings", r)
        return
    ctx.results.add(
        Figure(
            "workdays.no_memo",
            SECTION,
            "1,000,000 add_working_days, memo disabled (every call computed)",
            r["no_memo_s"],
            "s",
            target=target,
            **base,
            notes=f"CPU {r['no_memo_cpu_s']:.2f} s; {r['provisional_share']:.0%} of results provisional",
        )
    )
    ctx.detail(SECTION, "timings", r)
