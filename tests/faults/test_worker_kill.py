"""kill -9 every worker (intake, routing, scoring) in the middle of a burst, then restart them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import SERVICES, Burst, FaultStack, run_scenario, submissions

pytestmark = pytest.mark.slow


@pytest.mark.timeout(280)
async def test_sigkilled_workers_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    total = submissions(400)
    kills: dict[str, float] = {}

    async def fault(stack: FaultStack, burst: Burst) -> dict[str, Any]:
        await burst.progress.reached(0.3)
        for service in SERVICES:
            stack.kill_worker(service)
            kills[service] = time.monotonic()
        await asyncio.sleep(2.0)
        for service in SERVICES:
            stack.start_worker(service)
        return {"killed": ",".join(SERVICES), "killed_at": f"{burst.progress.done}/{total}"}

    await run_scenario(tmp_path, "worker-kill", total=total, fault=fault, settle_timeout=200)
