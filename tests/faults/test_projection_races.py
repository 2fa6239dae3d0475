"""Two changes of the same case applied at the same moment (an arq worker runs up to 20 jobs at
once): the submitter-facing status in intake and the case and card facts in scoring are read,
compared ("an older change never overwrites a newer one") and written back without a row lock,
so the older change can commit last and win. The fault tests saw it happen by chance (e.g. 2 of
160 requests left at "verifying" although dispatched) and report it as ``stale_*``; this test
makes it likely by letting the events queue up, as any worker restart or backlog does."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from tests.faults.harness import (
    Burst,
    Dispatcher,
    Driver,
    FaultStack,
    read_state,
    settle,
    submissions,
)

pytestmark = pytest.mark.slow

CONSUMERS = ("intake", "scoring")
# The lock is released once this many jobs wait on it (both workers' first batches), or
# after LOCK_SECONDS whatever happens.
LOCK_WAITERS = 20
LOCK_SECONDS = 25.0


async def newest_first(stack: FaultStack, queue: str) -> int:
    """Reverse the queue order of the events about each case (or card), so that its newest
    change is taken first: events arrive out of order whenever a job is retried or deferred,
    which is what the consumers' "older never overwrites newer" check exists for. Returns how
    many jobs moved."""
    redis = Redis.from_url(stack.redis.url)
    try:
        groups: dict[str, list[tuple[float, bytes, tuple[str, int | str]]]] = defaultdict(list)
        for job_id, score in await redis.zrange(queue, 0, -1, withscores=True):
            raw = await redis.get(b"arq:job:" + job_id)
            if raw is None:
                continue
            args = orjson.loads(raw)["a"]
            if not args or not isinstance(args[0], dict):
                continue  # a cron job (relay, sweep…)
            envelope = args[0]
            data = envelope["data"]
            if envelope["type"] == "case.status_changed":
                key, order = f"request:{data['request_id']}", data["changed_at"]
            elif envelope["type"] == "case.snapshot":
                key, order = f"case:{data['case_id']}", data["revision"]
            elif envelope["type"] == "card.snapshot":
                key, order = f"card:{data['card_id']}", data["revision"]
            else:
                continue
            groups[key].append((score, job_id, (envelope["type"], order)))
        moved = 0
        for jobs in groups.values():
            if len(jobs) < 2:
                continue
            scores = sorted(score for score, _job, _order in jobs)
            newest_first_jobs = sorted(jobs, key=lambda job: job[2], reverse=True)
            for score, (_old, job_id, _order) in zip(scores, newest_first_jobs, strict=True):
                await redis.zadd(queue, {job_id: score}, xx=True)
                moved += 1
        return moved
    finally:
        await redis.aclose()


@pytest.mark.timeout(200)
async def test_status_and_facts_end_at_the_latest_change(tmp_path: Path) -> None:
    """60 requests; once their cases exist (and intake and scoring have applied that), intake's
    and scoring's workers are stopped cleanly and every case is verified and dispatched (one at
    a time, so the events of a case sit next to each other in the queues); the events of each
    case are put newest first; then the workers start again and drain the queues 20 jobs at a
    time, the first batch held at its first write by a table lock until it is all waiting (a
    slow moment in the database). Afterwards each submitter must see routing's newest change
    (status and time), and scoring's facts must carry routing's latest revision of every case
    and card.

    Typical result here: ~30 of 60 requests show the older change's time and note next to the
    newer status (the older event rewrote every column it changed), 6-14 case facts keep an
    older snapshot.
    """
    stack = FaultStack(tmp_path)
    try:
        await stack.start()
        burst = Burst(stack, Driver(), submissions(60))
        await burst.run_all()
        deadline = time.monotonic() + 60
        while True:
            state = await read_state(stack)
            if state.unconfirmed == 0 and set(state.cases) >= burst.accepted_ids:
                break
            assert time.monotonic() < deadline, "cases were not created"
            await asyncio.sleep(0.5)
        for service in CONSUMERS:
            await asyncio.to_thread(stack.stop_worker, service)
        dispatcher = Dispatcher(stack, Driver(), concurrency=1)
        dispatching = asyncio.create_task(dispatcher.run())
        deadline = time.monotonic() + 90
        while len(dispatcher.dispatched) < len(burst.accepted_ids):
            assert time.monotonic() < deadline, "dispatch did not finish"
            await asyncio.sleep(0.5)
        reordered = {queue: await newest_first(stack, queue) for queue in CONSUMERS}
        # A slow moment in the database: the first batch of jobs reads, then waits at its
        # first write (the inbox row) until the lock goes, as behind any long transaction.
        lock = await asyncpg.connect(stack.pg.url("yingshang"))
        waiting = 0
        try:
            transaction = lock.transaction()
            await transaction.start()
            await lock.execute(
                "LOCK TABLE intake.inbox_event, scoring.inbox_event IN SHARE ROW EXCLUSIVE MODE"
            )
            for service in CONSUMERS:
                stack.start_worker(service)
            deadline = time.monotonic() + LOCK_SECONDS
            while waiting < LOCK_WAITERS and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                # Another connection: statistics views are a snapshot within a transaction.
                waiting = (
                    await stack.query(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    )
                )[0]["n"]
            await transaction.rollback()
        finally:
            await lock.close()
        state = await settle(stack, burst, dispatcher, 90)
        await asyncio.wait_for(dispatching, 30)
        print(
            f"[projection-races] cases={state.case_rows} reordered_jobs={reordered} "
            f"jobs_held_by_lock={waiting} "
            f"unconfirmed={state.unconfirmed} "
            f"stale_submitter_status={state.stale_submitter_status} "
            f"stale_case_facts={state.stale_case_facts} stale_card_facts={state.stale_card_facts}"
        )
        assert state.unconfirmed == 0, "events left unapplied"
        stale = {
            "submitters who see an older status": state.stale_submitter_status,
            "cases whose older snapshot won in scoring": state.stale_case_facts,
            "cards whose older snapshot won in scoring": state.stale_card_facts,
        }
        assert not any(stale.values()), stale
    finally:
        await stack.close()
