"""The department's system fails half of the webhook deliveries and is down for a while in the
middle of a burst."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Burst, FaultStack, run_scenario, submissions

pytestmark = pytest.mark.slow

# The retry schedule is compressed (ROUTING_WEBHOOK_RETRY_SCHEDULE) so that an outage and the
# retries that outlive it fit in seconds: a delivery whose first attempt meets the outage is
# retried at +2, +5 and +10 s (still inside it) and then every 10 s. The production schedule
# (5 s, 30 s, 2 min…) is the same machinery with longer steps.
RETRY_SCHEDULE = "[2, 3, 5, 10]"
OUTAGE_SECONDS = 20.0


@pytest.mark.timeout(240)
async def test_flaky_and_absent_receiver_gets_every_webhook_signed(tmp_path: Path) -> None:
    """The receiver answers 503 to the first attempt of half of the messages (chosen by message
    id) throughout, and refuses connections for 20 s from 20 % of the burst. Every webhook
    still arrives at least once with a valid Standard Webhooks signature, and no delivery is
    dead-lettered.

    Size: 160 submissions (~190 webhooks: one case in five goes to two departments), paced at
    5 a second so that cases are dispatched before, during and after the outage.
    """
    total = submissions(160)

    async def fault(stack: FaultStack, burst: Burst) -> dict[str, Any]:
        stack.receiver.fail_half = True
        await burst.progress.reached(0.2)
        down = time.monotonic()
        await asyncio.to_thread(stack.receiver.down)
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(stack.receiver.up)
        return {"receiver_down_seconds": round(time.monotonic() - down, 1)}

    report = await run_scenario(
        tmp_path, "webhook-receiver", total=total, fault=fault, settle_timeout=150, rate=5.0,
        env={"ROUTING_WEBHOOK_RETRY_SCHEDULE": RETRY_SCHEDULE},
    )  # fmt: skip
    hits = report.stack.receiver.snapshot()
    refused_on_purpose = sum(1 for hit in hits if hit.status == 503)
    retried = [d for d in report.state.deliveries if d["attempts"] > 1]
    print(f"[webhook-receiver] failed_on_purpose={refused_on_purpose} deliveries_retried={len(retried)} "
          f"max_attempts={max((d['attempts'] for d in report.state.deliveries), default=0)}")  # fmt: skip
    # Both faults really happened: half-failures and attempts lost to the outage.
    assert refused_on_purpose > 0, report.line()
    assert len(retried) > refused_on_purpose, report.line()
