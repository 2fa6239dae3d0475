"""Every client request sent twice with the same Idempotency-Key: submissions, verifications
and dispatches, half of them concurrently and half after the first answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Burst, FaultStack, run_scenario, submissions

pytestmark = pytest.mark.slow


@pytest.mark.timeout(240)
async def test_every_request_sent_twice_creates_everything_once(tmp_path: Path) -> None:
    """Both answers to a pair are the same receipt (same id, tracking number and secret), and
    nothing exists twice: one request, one case, one card per unit, one history chain of three
    events. Clients retry 503s as usual (see the next test for why that matters).

    Size: 200 submissions, i.e. 400 POST /v1/requests plus 800 verify/dispatch calls.
    """

    async def no_fault(_stack: FaultStack, _burst: Burst) -> dict[str, Any]:
        return {}

    report = await run_scenario(tmp_path, "idempotency", total=submissions(200), fault=no_fault,
                                settle_timeout=120, twice=True)  # fmt: skip
    print(f"[idempotency] 503s_from_twin_races={report.burst.driver.codes.get(503, 0)}")  # noqa: T201
