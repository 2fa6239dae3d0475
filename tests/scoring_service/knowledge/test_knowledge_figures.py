"""The 知识库 section of the staff and public statistics, October 2026 ("now" 20 November),
fed through the scoring worker's real handlers as intake's events arrive.

Answers (Asia/Shanghai):
  r1 article A, 1 Oct 00:00          counted (the period's first instant)
  r2 article A, 15 Oct               counted
  r3 article B, 31 Oct 23:59         counted
  r4 article C, 30 Sep 23:59         not counted (September)
  r5 article C, 1 Nov 00:00          not counted (November)
  r2 again under a new event id      the same request: counted once
  -> answered 3, articles used 2 (A and B); 20 October alone: nothing; 15 October: 1 / 1.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from scoring_service.models import InboxEvent
from scoring_service.worker import HANDLERS, PREFETCH
from services.db import AsyncSessionMaker
from services.inbox import EventConsumer
from shared.events import EventEnvelope, RequestAnsweredByKnowledge
from tests.scoring_service.evaluation.helpers import sh, token

pytestmark = pytest.mark.usefixtures("frozen_now")

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31"}
A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def answered(article: uuid.UUID, at: datetime, request: uuid.UUID | None = None) -> dict[str, Any]:
    request = request or uuid.uuid4()
    data = RequestAnsweredByKnowledge(
        request_id=request, tracking_no=f"YS{request.hex[:14].upper()}", article_id=article,
        version=2, answered_at=at,
    )  # fmt: skip
    event = EventEnvelope(type=data.TYPE, source="intake", data=data.model_dump(mode="json"))
    return event.model_dump(mode="json")


async def feed(sessionmaker: AsyncSessionMaker, *envelopes: dict[str, Any]) -> None:
    consumer = EventConsumer(InboxEvent, HANDLERS, prefetch=PREFETCH, name="scoringknowledge")
    ctx = {"sessionmaker": sessionmaker, "job_try": 1}
    for item in envelopes:
        assert await consumer(ctx, item) == "handled"


async def test_answers_and_articles_used_in_the_period(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    r2 = uuid.uuid4()
    await feed(
        scoring_sessionmaker,
        answered(A, sh(10, 1, 0, 0)),
        answered(A, sh(10, 15), r2),
        answered(B, datetime(2026, 10, 31, 23, 59, tzinfo=sh(10, 31).tzinfo)),
        answered(C, datetime(2026, 9, 30, 23, 59, tzinfo=sh(9, 30).tzinfo)),
        answered(C, sh(11, 1, 0, 0)),
        answered(A, sh(10, 15), r2),
    )
    staff = await scoring_client.get("/v1/statistics", params=OCTOBER, headers=token("auditor"))
    assert staff.status_code == 200, staff.text
    assert staff.json()["knowledge"] == {"answered": 3, "articles_used": 2}
    public = await scoring_client.get("/v1/public/statistics", params=OCTOBER)
    assert public.status_code == 200, public.text
    assert public.json()["knowledge"] == {"answered": 3, "articles_used": 2}
    # Aggregates only: no request, tracking number or article is named in public.
    for named in (str(r2), str(A), "YS"):
        assert named not in public.text

    day = await scoring_client.get(
        "/v1/statistics", params={"start": "2026-10-15", "end": "2026-10-15"},
        headers=token("auditor"),
    )  # fmt: skip
    assert day.json()["knowledge"] == {"answered": 1, "articles_used": 1}
    quiet = await scoring_client.get(
        "/v1/public/statistics", params={"start": "2026-10-20", "end": "2026-10-20"}
    )
    assert quiet.json()["knowledge"] == {"answered": 0, "articles_used": 0}
