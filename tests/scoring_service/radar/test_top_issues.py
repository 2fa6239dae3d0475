"""The statistics' 热点问题 of the month and 每月一题, from routing's cluster snapshots fed
through the scoring worker's handlers. October 2026:

  bus    HS-GM  9 requests, 8 submitters, hot → handling (rev 3), theme of 2026-10
  lights HS-GM  3 requests, 3 submitters, forming
  market HS-YQ  6 requests, 6 submitters, resolved
  old    HS-YQ  last request in September: not this month's
  -> top: bus (8), market (6), lights (3); themes: bus. An older revision arriving late is
     ignored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from shared.events import EventEnvelope, HotIssueSnapshot
from tests.scoring_service.evaluation.helpers import sh, token
from tests.scoring_service.knowledge.test_knowledge_figures import feed

pytestmark = pytest.mark.usefixtures("frozen_now")

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31"}
BUS, LIGHTS, MARKET, OLD = (uuid.uuid4() for _ in range(4))


def snapshot(cluster: uuid.UUID, revision: int, topic: str, area: str, state: str, requests: int,
             submitters: int, first: datetime, last: datetime, theme: str | None = None) -> dict[str, Any]:  # fmt: skip
    data = HotIssueSnapshot(
        hot_issue_id=cluster, revision=revision, topic=topic, area_unit_code=area,
        area_unit_name={"HS-GM": "光明路街道", "HS-YQ": "经济开发区"}[area], area_unit_path=f"/HS/{area}/",
        state=state, title="园区公交班次太少 张先生13812345678", requests=requests,
        submitters=submitters, first_at=first, last_at=last, theme_month=theme,
    )  # fmt: skip
    return EventEnvelope(
        type=data.TYPE, source="routing", data=data.model_dump(mode="json")
    ).model_dump(mode="json")


async def test_top_issues_and_themes_of_the_month(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: Any
) -> None:
    await feed(
        scoring_sessionmaker,
        snapshot(BUS, 1, "transport", "HS-GM", "forming", 4, 4, sh(10, 2), sh(10, 5)),
        snapshot(BUS, 3, "transport", "HS-GM", "handling", 9, 8, sh(10, 2), sh(10, 20), "2026-10"),
        snapshot(BUS, 2, "transport", "HS-GM", "hot", 6, 6, sh(10, 2), sh(10, 9)),  # late, older
        snapshot(LIGHTS, 1, "transport", "HS-GM", "forming", 3, 3, sh(10, 12), sh(10, 14)),
        snapshot(MARKET, 4, "market_order", "HS-YQ", "resolved", 6, 6, sh(10, 1), sh(10, 8)),
        snapshot(OLD, 2, "environment", "HS-YQ", "hot", 12, 12, sh(9, 1), sh(9, 20)),
    )
    staff = await scoring_client.get("/v1/statistics", params=OCTOBER, headers=token("auditor"))
    assert staff.status_code == 200, staff.text
    hot = staff.json()["hot_issues"]
    assert hot["month"] == "2026-10"
    assert [(t["topic"], t["area_unit_name"], t["submitters"], t["state"]) for t in hot["top"]] == [
        ("transport", "光明路街道", 8, "handling"),
        ("market_order", "经济开发区", 6, "resolved"),
        ("transport", "光明路街道", 3, "forming"),
    ]
    assert [(t["topic"], t["theme"]) for t in hot["themes"]] == [("transport", True)]
    public = await scoring_client.get("/v1/public/statistics", params=OCTOBER)
    assert public.json()["hot_issues"] == hot
    # No request text, no person: only what, where and how many.
    for leaked in ("公交班次", "13812345678", "张先生", str(BUS)):
        assert leaked not in public.text
