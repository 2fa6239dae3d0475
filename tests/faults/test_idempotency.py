"""Every client request sent twice with the same Idempotency-Key: submissions, verifications
and dispatches, half of them concurrently and half after the first answer."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.harness import Burst, FaultStack, request_body, run_scenario, submissions

pytestmark = pytest.mark.slow


@pytest.mark.timeout(240)
async def test_every_request_sent_twice_creates_everything_once(tmp_path: Path) -> None:
    """Both answers to a pair are the same receipt (same id, tracking number and secret), and
    nothing exists twice: one request, one case, one card per unit, one history chain of three
    events.

    Size: 150 submissions, i.e. 300 POST /v1/requests and 600 verify/dispatch calls.
    """

    async def no_fault(_stack: FaultStack, _burst: Burst) -> dict[str, Any]:
        return {}

    report = await run_scenario(tmp_path, "idempotency", total=submissions(150), fault=no_fault,
                                settle_timeout=120, twice=True)  # fmt: skip
    print(f"[idempotency] 503s_from_concurrent_twins={report.burst.driver.codes.get(503, 0)} "
          f"routing_503s={report.dispatcher.driver.codes.get(503, 0)}")  # fmt: skip


PAIRS = 40


@pytest.mark.timeout(120)
async def test_concurrent_twin_gets_the_first_answer_not_a_503(tmp_path: Path) -> None:
    """40 pairs of identical submissions sent at the same moment (intake API only): each pair
    must get two 201s carrying the same receipt, the second marked ``Idempotent-Replayed``."""
    stack = FaultStack(tmp_path, apis=("intake",), workers=())
    try:
        await stack.start()
        async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=15) as client:

            async def pair(i: int) -> tuple[httpx.Response, httpx.Response]:
                headers = {"X-API-Key": stack.channel_key, "Idempotency-Key": f"twin-{i}"}
                body = request_body("twin", i)
                first, second = await asyncio.gather(
                    client.post("/v1/requests", json=body, headers=headers),
                    client.post("/v1/requests", json=body, headers=headers),
                )
                return first, second

            pairs = await asyncio.gather(*(pair(i) for i in range(PAIRS)))
        codes = Counter(response.status_code for both in pairs for response in both)
        created = (await stack.query("SELECT count(*) AS n FROM intake.issue"))[0]["n"]
        print(f"[idempotency-race] pairs={PAIRS} answers={dict(codes)} requests_created={created}")
        # Whatever the answers, nothing was created twice.
        assert created == PAIRS
        assert codes == Counter({201: 2 * PAIRS}), dict(codes)
        for first, second in pairs:
            assert first.json()["id"] == second.json()["id"]
            replayed = [r.headers.get("idempotent-replayed") for r in (first, second)]
            assert set(replayed) == {"true", None}, replayed
    finally:
        await stack.close()
