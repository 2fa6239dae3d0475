"""``python -m bench [--quick] [--only NAME[,NAME]] [--sizes 100000,1000000]``

Runs the benchmarks of issue 6 against this machine's PostgreSQL and Redis (loopback only) and
writes ``bench/results/latest.json`` and ``latest.md`` (a ``--quick`` or ``--only`` run writes
``partial.json`` and ``partial.md`` instead, so it never replaces the committed full run). Every figure is printed as it is measured,
with its same-run baseline and how far it is from its target; nothing is asserted.

The suite creates a fresh ``ys_bench`` database, flushes Redis database 5, starts the service
processes it needs on free ports, and on the way out (also on Ctrl-C or SIGTERM) stops them,
flushes Redis db 5 and drops ``ys_bench``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from types import FrameType

from bench import env

BENCHMARKS = (
    "intake",
    "loop",
    "supervision",
    "scorecards",
    "workdays",
    "search",
    "projects",
    "radar",
)
FULL_BUDGET_S = 15 * 60
QUICK_BUDGET_S = 2 * 60


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run (~1-2 minutes): shorter, smaller"
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--sizes",
        default="",
        help="data sizes for supervision and scorecards (default 100000,1000000; quick 100000). "
        "10000000 works if you have ~20 more minutes",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each benchmark wait up to SECONDS for the machine to be idle (other "
        "people's work on a shared box skews every figure); default: don't wait",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run every service process under py-spy (pip install py-spy); collapsed stacks go "
        "next to the service logs. Figures from such a run are not comparable",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add this partial run's figures to the committed latest.* (e.g. the 10M sizes a "
        "full run leaves out) instead of writing partial.*",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave ys_bench in place afterwards (debugging)"
    )
    return parser.parse_args(argv)


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in selected if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}", file=sys.stderr)
        return 2
    if args.sizes:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = [100_000] if args.quick else [100_000, 1_000_000]
    if args.profile:
        if shutil.which("py-spy") is None:
            print("--profile needs py-spy on PATH (pip install py-spy)", file=sys.stderr)
            return 2
        env.PROFILE["enabled"] = True
    env.configure()
    signal.signal(signal.SIGTERM, _terminate)

    from bench.context import Context
    from bench.results import Results

    results = Results(mode="quick" if args.quick else "full")
    budget = QUICK_BUDGET_S if args.quick else FULL_BUDGET_S
    ctx_wait = args.wait_quiet
    ctx = Context(
        results=results, quick=args.quick, sizes=sizes, deadline=time.monotonic() + budget
    )
    code = 0
    try:
        import uvloop

        uvloop.run(_run(ctx, selected, ctx_wait))
    except KeyboardInterrupt:
        results.problems.append("interrupted")
        print("\ninterrupted: cleaning up", file=sys.stderr)
        code = 130
    except Exception as exc:  # report what we have, then clean up
        results.problems.append(f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
        code = 1
    finally:
        results.machine["loadavg_at_end"] = env.loadavg()
        if args.keep:
            env.PROCESSES.stop_all()
            problems: list[str] = []
        else:
            problems = env.cleanup()
        results.problems.extend(f"cleanup: {p}" for p in problems)
        # Only a full run of the whole suite replaces the committed results.
        partial = os.environ.get("BENCH_PARTIAL_NAME", "partial")
        name = "latest" if selected == list(BENCHMARKS) and not args.quick else partial
        json_path, md_path = results.write(name=name)
        print(f"\nwrote {json_path.relative_to(env.ROOT)} and {md_path.relative_to(env.ROOT)}")
        if args.merge and name != "latest" and code == 0:
            from bench.results import merge_into

            merged = merge_into(results, sizes, selected)
            print(f"merged its figures into {merged.relative_to(env.ROOT)}")
        _summary(results)
    return code


async def _run(ctx: object, selected: list[str], wait_quiet: float = 0.0) -> None:
    from bench.context import Context

    assert isinstance(ctx, Context)
    results = ctx.results
    results.machine.update(env.machine_info())
    results.machine.update(await env.server_versions())
    results.machine["pgbench"] = env.pgbench_version()
    print(
        f"machine: {results.machine.get('cpu_model')} x{results.machine.get('cores')}, "
        f"PostgreSQL {results.machine.get('postgresql')}, Redis {results.machine.get('redis')}, "
        f"load average {results.machine.get('loadavg_at_start')}",
        flush=True,
    )
    print("creating ys_bench and running migrations", flush=True)
    await env.create_database()
    await env.flush_redis()

    runners: dict[str, Callable[[Context], Awaitable[None]]] = {}
    from bench import (
        b_intake,
        b_loop,
        b_projects,
        b_radar,
        b_scorecards,
        b_search,
        b_supervision,
        b_workdays,
    )

    runners = {
        "intake": b_intake.run,
        "loop": b_loop.run,
        "supervision": b_supervision.run,
        "scorecards": b_scorecards.run,
        "workdays": b_workdays.run,
        "search": b_search.run,
        "projects": b_projects.run,
        "radar": b_radar.run,
    }
    for name in selected:
        print(f"\n== {name} ==", flush=True)
        if wait_quiet:
            waited, busy = await _quiet(wait_quiet)
            results.section(name)["waited_for_quiet_s"] = waited
            ctx.deadline += waited  # waiting is not the suite's own time
            print(f"   (waited {waited:.0f} s for the machine; busy {busy:.0%})", flush=True)
        started = time.monotonic()
        load = env.loadavg()
        try:
            await runners[name](ctx)
        except Exception as exc:  # one benchmark failing must not lose the others' figures
            traceback.print_exc()
            results.problems.append(f"{name}: {type(exc).__name__}: {exc}")
        finally:
            env.PROCESSES.stop_all()
        section = results.section(name)
        section["seconds"] = round(time.monotonic() - started, 1)
        section["loadavg_before"] = load
        print(f"   ({name} took {section['seconds']} s)", flush=True)


async def _quiet(limit: float, threshold: float = 0.25) -> tuple[float, float]:
    """Wait until the machine's busy share over one second drops below ``threshold`` (or
    ``limit`` seconds pass). Returns (seconds waited, last busy share)."""
    import asyncio

    started = time.monotonic()
    busy = 1.0
    while True:
        b0, t0 = env.system_cpu()
        await asyncio.sleep(1.0)
        b1, t1 = env.system_cpu()
        busy = (b1 - b0) / max(t1 - t0, 1.0)
        if busy < threshold or time.monotonic() - started >= limit:
            return time.monotonic() - started, busy


def _summary(results: object) -> None:
    from bench.results import Results, fmt

    assert isinstance(results, Results)
    targeted = [f for f in results.figures if f.target is not None]
    if not targeted:
        return
    print("\nagainst targets:")
    for figure in targeted:
        distance = figure.target.distance(figure.value, figure.baseline) if figure.target else ""
        print(
            f"  [{figure.status:>4}] {figure.label}: {fmt(figure.value, figure.unit)} "
            f"(target {figure.target.text if figure.target else ''}; {distance})"
        )
