"""Proposed fixes, measured against the shipped code under the same conditions, back to back
(``python -m bench --only previews``; not part of the default run). See ``bench/preview.py`` for
what each preview changes. Figures here are *info*: they show what a change would buy, they are
not the product's result.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import b_intake, b_loop, b_supervision, env
from bench.context import Context, connect
from bench.org import ensure_org
from bench.results import Figure

SECTION = "previews"


async def run(ctx: Context) -> None:
    await _intake(ctx)
    await _supervision(ctx)
    await _loop(ctx)


async def _intake(ctx: Context) -> None:
    shipped = b_intake.ServerConfig("shipped", workers=2, env=dict(b_intake.RATE_LIMITS_OFF))
    preview = b_intake.ServerConfig(
        "bigrams memoised",
        workers=2,
        env=dict(b_intake.RATE_LIMITS_OFF),
        app="bench.preview:intake_app",
    )
    api_key = await b_intake._keys()
    results: dict[str, dict[int, list[dict[str, Any]]]] = {"shipped": {}, "preview": {}}
    print(
        "  intake: shipped vs memoised bigrams in the related-request check, alternating",
        flush=True,
    )
    for _round in range(2):
        for name, config in (("shipped", shipped), ("preview", preview)):
            async with b_intake.Server(config) as server:
                await server.preflight(api_key)
                for c in (16, 64):
                    load = {"api_key": api_key, "mode": "closed", "concurrency": c, "warmup": 1.5,
                            "duration": 6.0}  # fmt: skip
                    result = await b_intake.drive(server, load)
                    results[name].setdefault(c, []).append(result)
                    print(f"    {name} c={c}: {b_intake._describe(result)}", flush=True)
    for c in (16, 64):
        base = statistics.median(r["ok_per_s"] for r in results["shipped"][c])
        new = statistics.median(r["ok_per_s"] for r in results["preview"][c])
        cpu_base = statistics.median(r["server_cpu_ms_per_request"] for r in results["shipped"][c])
        cpu_new = statistics.median(r["server_cpu_ms_per_request"] for r in results["preview"][c])
        ctx.results.add(
            Figure(
                f"preview.intake.c{c}",
                SECTION,
                f"Preview: submissions/s at c={c} with the related-request check's bigrams memoised",
                new,
                "/s",
                baseline=base,
                baseline_label="shipped code, same conditions",
                notes=f"API CPU per submission {cpu_base:.2f} → {cpu_new:.2f} ms",
            )
        )
    ctx.detail(SECTION, "intake", results)


async def _rearm(due_ids: list[Any]) -> None:
    async with connect() as connection:
        await connection.execute(
            "DELETE FROM routing.supervision_event; DELETE FROM routing.webhook_delivery; "
            "DELETE FROM routing.outbox_event; DELETE FROM routing.case_event"
        )
        await connection.execute(
            'UPDATE routing."case" SET history_seq = 0, history_head = NULL WHERE history_seq > 0'
        )
        await connection.execute(
            "UPDATE routing.card SET supervision_level = 'yellow', listed = false, "
            "next_check_at = due_at WHERE id = ANY($1::uuid[])",
            due_ids,
        )
        await connection.execute("VACUUM (ANALYZE) routing.card")
    await env.flush_redis()


async def _supervision(ctx: Context) -> None:
    from bench.preview import batched_tick
    from routing_service.deadline.supervision import supervision_service
    from routing_service.spec import spec
    from services.db import create_engine, create_sessionmaker
    from services.models import utcnow

    n = 100_000
    async with connect() as connection:
        org = await ensure_org(connection)
        await connection.execute("DELETE FROM routing.webhook_subscription")
        await connection.execute(
            "INSERT INTO routing.webhook_subscription (id, unit_id, url, secret, event_types, active, "
            "created_at) VALUES (gen_random_uuid(), $1, 'http://127.0.0.1:9/hook', "
            "'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '[\"*\"]', true, now())",
            org.unit_id,
        )
    print(f"  supervision: shipped tick vs batched tick on {n:,} cards, alternating", flush=True)
    await b_supervision.load(n, org, seed=3)
    async with connect() as connection:
        due_ids = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM routing.card WHERE next_check_at <= now()"
            )
        ]
    engine = create_engine(env.SA_URL, schema="routing", pool_size=2)
    maker = create_sessionmaker(engine)
    maker.configure(info={"outbox_model": spec.outbox_model, "service_name": spec.name})
    timings: dict[str, list[float]] = {"shipped": [], "batched": []}
    steps: dict[str, list[int]] = {"shipped": [], "batched": []}
    try:
        for _round in range(3):
            for name, tick in (("shipped", supervision_service.tick), ("batched", batched_tick)):
                await _rearm(due_ids)
                async with maker() as session:
                    started = time.perf_counter()
                    result = await tick(session, utcnow())
                    await session.commit()
                    timings[name].append(time.perf_counter() - started)
                    steps[name].append(result.steps)
                async with connect() as connection:
                    events = await connection.fetchval(
                        "SELECT count(*) FROM routing.supervision_event"
                    )
                    deliveries = await connection.fetchval(
                        "SELECT count(*) FROM routing.webhook_delivery"
                    )
                print(f"    {name}: {result.cards} cards, {result.steps} steps, {events} events, "
                      f"{deliveries} webhook deliveries in {timings[name][-1]:.3f} s", flush=True)  # fmt: skip
    finally:
        await engine.dispose()
    base, new = statistics.median(timings["shipped"]), statistics.median(timings["batched"])
    ctx.results.add(
        Figure(
            "preview.supervision.batch",
            SECTION,
            f"Preview: supervision tick of {len(due_ids):,} due cards in constant statements "
            "(cases locked by one query, events inserted by one statement, subscriptions once per unit)",
            new,
            "s",
            baseline=base,
            baseline_label="shipped tick, same cards",
            notes=f"steps recorded: shipped {steps['shipped']}, batched {steps['batched']}",
        )
    )
    ctx.detail(SECTION, "supervision", {"timings": timings, "steps": steps, "due": len(due_ids)})


async def _loop(ctx: Context) -> None:
    # At a rate this machine sustains, so that queueing for CPU does not hide the hops' latency.
    seconds, drain, rate = 20.0, 15.0, 25.0
    print(
        f"  loop: shipped workers vs poll_delay 0.05 s, {rate:.0f}/s, {seconds:.0f} s per half",
        flush=True,
    )
    shipped = await b_loop.measure(seconds, drain, rate=rate)
    fast = await b_loop.measure(seconds, drain, poll_delay=0.05, rate=rate)
    ctx.detail(SECTION, "loop", {"shipped": shipped, "poll_delay_0.05": fast})
    for half, key in (("A", "case_created_ms"), ("B", "webhook_ms")):
        part = "a" if half == "A" else "b"
        for q in ("p50", "p95"):
            ctx.results.add(
                Figure(
                    f"preview.loop.{part}.{q}",
                    SECTION,
                    f"Preview: loop {half} {q} at {rate:.0f}/s with arq poll_delay 0.05 s (default 0.5 s)",
                    fast[part][key].get(q, float("nan")),
                    "ms",
                    baseline=shipped[part][key].get(q),
                    baseline_label="shipped workers, same run",
                )
            )
