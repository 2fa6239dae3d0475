"""Public endpoints are rate limited; guessing tracking numbers is cut off and reveals nothing."""

from __future__ import annotations

import httpx
import pytest

from intake_service.config import settings
from tests.intake_service.issue.test_endpoints import submit


async def test_guessing_tracking_numbers_is_cut_off(
    intake_client: httpx.AsyncClient, channel_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "rate_track_failures_per_ip", 5)
    receipt = (await submit(intake_client, channel_key)).json()
    statuses = []
    for guess in range(7):
        response = await intake_client.get(
            f"/v1/requests/YS26112800000{guess:03d}", headers={"X-Tracking-Secret": "x"}
        )
        statuses.append(response.status_code)
    assert statuses == [404] * 5 + [429] * 2
    blocked = await intake_client.get(
        f"/v1/requests/{receipt['tracking_no']}",
        headers={"X-Tracking-Secret": receipt["tracking_secret"]},
    )
    assert (
        blocked.status_code == 429
    )  # even the right secret waits out the window from this address
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert int(blocked.headers["retry-after"]) > 0


async def test_submissions_are_limited_per_key(
    intake_client: httpx.AsyncClient, channel_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "rate_submit_per_key", 2)
    codes = []
    for n in range(3):
        body = {"channel": "app", "type": "suggestion", "title": f"建议第{n}条", "description": "希望增加园区绿化面积。",
                "anonymous": True}  # fmt: skip
        codes.append(
            (
                await intake_client.post(
                    "/v1/requests", json=body, headers={"X-API-Key": channel_key}
                )
            ).status_code
        )
    assert codes == [201, 201, 429]
