"""PIPL retention: the personal fields of requests archived longer than the period are erased in
bounded batches, except confidential and anonymous ones; the request and its figures stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from intake_service.config import settings
from intake_service.models import Issue
from intake_service.privacy.service import RETENTION_JOB, privacy_service
from services.db import AsyncSessionMaker
from services.models import utcnow
from tests.intake_service.privacy.helpers import (
    ENTERPRISE,
    PERSON,
    access_rows,
    erasure_events,
    issue,
    report,
    submit,
)

PERIOD = timedelta(days=settings.personal_retention_days)


async def archive(
    sessionmaker: AsyncSessionMaker, tracking_no: str, ago: timedelta, status: str = "closed"
) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(Issue)
            .where(Issue.tracking_no == tracking_no)
            .values(status=status, status_changed_at=utcnow() - ago)
        )
        await session.commit()


async def batch(sessionmaker: AsyncSessionMaker, limit: int = 100) -> int:
    async with sessionmaker() as session:
        erased = await privacy_service.erase_expired_batch(session, utcnow(), limit)
        await session.commit()
    return erased


@pytest.fixture
async def requests_(
    intake_client: httpx.AsyncClient, channel_key: str, intake_sessionmaker: AsyncSessionMaker
) -> dict[str, str]:
    made: dict[str, Any] = {
        "expired": await submit(intake_client, channel_key, submitter=PERSON),
        "enterprise": await submit(intake_client, channel_key, submitter=ENTERPRISE, title="施工许可审批进度"),
        "recent": await submit(intake_client, channel_key, submitter=PERSON, title="路灯不亮"),
        "confidential": await report(intake_client, channel_key),
        "anonymous": await submit(intake_client, channel_key, submitter=PERSON, anonymous=True,
                                  title="占道经营无人管"),
        "withdrawn": await submit(intake_client, channel_key, submitter=PERSON, title="噪音扰民"),
        "open": await submit(intake_client, channel_key, submitter=PERSON, title="井盖缺失"),
    }  # fmt: skip
    numbers = {name: receipt["tracking_no"] for name, receipt in made.items()}
    long_ago = PERIOD + timedelta(days=1)
    for name in ("expired", "enterprise", "confidential", "anonymous"):
        await archive(intake_sessionmaker, numbers[name], long_ago)
    await archive(intake_sessionmaker, numbers["recent"], PERIOD - timedelta(days=1))
    await archive(intake_sessionmaker, numbers["withdrawn"], long_ago, status="withdrawn")
    await archive(intake_sessionmaker, numbers["open"], long_ago, status="in_progress")
    return numbers


async def test_only_requests_archived_past_the_period_and_unprotected_are_erased(
    intake_sessionmaker: AsyncSessionMaker, requests_: dict[str, str]
) -> None:
    assert await batch(intake_sessionmaker) == 2
    for name in ("expired", "enterprise"):
        erased = await issue(intake_sessionmaker, requests_[name])
        assert (erased.submitter_name, erased.submitter_phone, erased.submitter_email) == (
            None,
        ) * 3
        assert (erased.phone_index, erased.submitter_key) == (None, None)
        assert erased.personal_erasure_reason == "retention"
        assert erased.personal_erased_at is not None
        assert erased.status == "closed"  # the request itself stays
    enterprise = await issue(intake_sessionmaker, requests_["enterprise"])
    # An enterprise's public registry identity is kept.
    assert (enterprise.uscc, enterprise.enterprise_name) == (
        ENTERPRISE["uscc"], ENTERPRISE["enterprise_name"])  # fmt: skip
    assert enterprise.uscc_index is not None
    for name in ("recent", "confidential", "anonymous", "withdrawn", "open"):
        kept = await issue(intake_sessionmaker, requests_[name])
        assert kept.personal_erased_at is None, name
        assert kept.submitter_name is not None, name
        assert kept.phone_index is not None, name
    rows = await access_rows(intake_sessionmaker)
    assert sorted(r.tracking_no for r in rows) == sorted(
        [requests_["expired"], requests_["enterprise"]]
    )
    assert {(r.kind, r.actor, r.role, r.reason, r.endpoint) for r in rows} == {
        ("erasure", "system:retention", "system", "retention", RETENTION_JOB)}  # fmt: skip
    events = await erasure_events(intake_sessionmaker)
    assert sorted(e.queue for e in events) == ["routing", "routing", "scoring", "scoring"]
    assert {e.envelope["data"]["tracking_no"] for e in events} == {
        requests_["expired"], requests_["enterprise"]}  # fmt: skip
    assert {e.envelope["data"]["reason"] for e in events} == {"retention"}


async def test_a_second_run_erases_nothing_more(
    intake_sessionmaker: AsyncSessionMaker, requests_: dict[str, str]
) -> None:
    assert await batch(intake_sessionmaker) == 2
    first = await issue(intake_sessionmaker, requests_["expired"])
    assert await batch(intake_sessionmaker) == 0
    again = await issue(intake_sessionmaker, requests_["expired"])
    assert again.personal_erased_at == first.personal_erased_at
    assert len(await access_rows(intake_sessionmaker)) == 2
    assert len(await erasure_events(intake_sessionmaker)) == 4


async def test_batches_are_bounded_and_the_job_takes_them_in_turn(
    intake_client: httpx.AsyncClient, channel_key: str, intake_sessionmaker: AsyncSessionMaker
) -> None:
    numbers = []
    for day in range(5):
        receipt = await submit(intake_client, channel_key, submitter=PERSON, title=f"第{day}件诉求")
        await archive(
            intake_sessionmaker, receipt["tracking_no"], PERIOD + timedelta(days=10 - day)
        )
        numbers.append(receipt["tracking_no"])
    assert await batch(intake_sessionmaker, limit=2) == 2
    # The oldest archived first.
    erased = {r.tracking_no for r in await access_rows(intake_sessionmaker)}
    assert erased == set(numbers[:2])
    assert await privacy_service.erase_expired(intake_sessionmaker, None, utcnow(), batch=2) == 3
    assert {r.tracking_no for r in await access_rows(intake_sessionmaker)} == set(numbers)


async def test_a_period_of_zero_keeps_everything(
    intake_sessionmaker: AsyncSessionMaker,
    requests_: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "personal_retention_days", 0)
    assert await privacy_service.erase_expired(intake_sessionmaker, None, utcnow()) == 0
    assert (await issue(intake_sessionmaker, requests_["expired"])).personal_erased_at is None
