"""PostgreSQL stopped (fast shutdown: every connection cut) in the middle of a burst, down for a
few seconds, then started again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Burst, FaultStack, run_scenario, submissions

pytestmark = pytest.mark.slow

DOWN_SECONDS = 5.0


@pytest.mark.timeout(240)
async def test_postgres_restart_gives_clear_503s_and_retries_succeed(tmp_path: Path) -> None:
    """While the database is down every API answers 503 with the ``service_unavailable``
    envelope, never 500; clients retry with the same Idempotency-Key and each submission ends
    up accepted exactly once (a retry of a request whose commit went through but whose answer
    was lost replays the first answer).

    ``pg_ctl stop -m fast`` + start rather than ``pg_ctl restart``: the restart alone takes
    ~0.2 s here, too short for clients to notice; 5 s down makes sure requests, jobs and crons
    all hit the outage. (fsync is off in the throwaway cluster, which is safe for a clean
    shutdown; a crash would need ``ThrowawayPostgres(durable=True)``.)

    Size: 200 submissions, see ``test_redis_outage`` for why not 2,000
    (``FAULT_SUBMISSIONS=2000`` for a full-size run).
    """
    total = submissions(200)

    async def fault(stack: FaultStack, burst: Burst) -> dict[str, Any]:
        await burst.progress.reached(0.3)
        down = time.monotonic()
        await asyncio.to_thread(stack.pg.stop, "fast")
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(stack.pg.start)
        return {"pg_down_seconds": round(time.monotonic() - down, 1)}

    report = await run_scenario(
        tmp_path, "postgres-restart", total=total, fault=fault, settle_timeout=150
    )
    burst, dispatcher = report.burst.driver, report.dispatcher.driver
    unavailable = burst.codes.get(503, 0) + dispatcher.codes.get(503, 0)
    window = [
        moment
        for driver in (burst, dispatcher)
        for moment in (driver.first_503_at, driver.last_503_at)
        if moment is not None
    ]
    seconds = max(window) - min(window) if window else 0.0
    errors = len(burst.server_errors) + len(dispatcher.server_errors)
    print(
        f"[postgres-restart] 503s_during_pg_restart={unavailable} 500s={errors} "
        f"503_window_s={seconds:.1f} pg_down_s={report.extra['pg_down_seconds']}"
    )
    assert unavailable > 0, "no client saw the outage: " + report.line()
