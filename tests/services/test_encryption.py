"""The background encryption (services/encryption.py) on PostgreSQL: rows written before field
encryption are sealed by a resumable sweep and behave as before (ownership by phone, duplicates,
credit-code lookups); a key rotation under load loses nothing; a key missing or wrong at start-up
refuses the start."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Text, select, text, type_coerce

from intake_service.models import Issue
from intake_service.spec import spec as intake_spec
from services.crypto import PREFIX, Sealed, keys, sealed_key_id, unseal
from services.db import AsyncSessionMaker
from services.encryption import service_models, sweep, verify_keys
from services.settings import common_settings
from tests.intake_service.issue.test_endpoints import submission

PERSON = {"kind": "person", "name": "钱老板", "phone": "13711112222", "email": "qian@example.cn"}
USCC = "91130404MA0CTE1N15"


def fresh_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


@pytest.fixture
def rings(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Explicit key rings (instead of the development keys), changeable inside a test."""
    state = {"data": fresh_key(), "confidential": fresh_key()}

    def use(data: dict[str, str], active: str, confidential: dict[str, str], c_active: str) -> None:
        import json

        monkeypatch.setenv("DATA_KEYS", json.dumps(data))
        monkeypatch.setenv("DATA_KEY_ACTIVE", active)
        monkeypatch.setenv("CONFIDENTIAL_KEYS", json.dumps(confidential))
        monkeypatch.setenv("CONFIDENTIAL_KEY_ACTIVE", c_active)
        common_settings.cache_clear()

    use({"k1": state["data"]}, "k1", {"c1": state["confidential"]}, "c1")
    state["use"] = use  # type: ignore[assignment]
    yield state
    monkeypatch.undo()
    common_settings.cache_clear()


async def _submit(client: httpx.AsyncClient, key: str, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/requests", json=submission(**overrides), headers={"X-API-Key": key}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _as_before_encryption(sessionmaker: AsyncSessionMaker, tracking_no: str) -> None:
    """Put a request back the way the previous release stored it: plaintext identity, no blind
    indexes, the unkeyed SHA-256 submitter key."""
    async with sessionmaker() as session:
        issue = (await session.scalars(select(Issue).where(Issue.tracking_no == tracking_no))).one()
        plain: dict[str, Any] = {}
        for name in ("submitter_name", "submitter_phone", "submitter_email", "uscc",
                     "enterprise_name", "title", "description", "address"):  # fmt: skip
            value = getattr(issue, name)
            plain[name] = unseal(value, f"issue.{name}") if value is not None else None
        identity = plain["uscc"] or plain["submitter_phone"]
        legacy_key = (
            hashlib.sha256(f"{issue.submitter_kind}:{identity}".encode()).hexdigest()
            if identity and not issue.anonymous
            else None
        )
        await session.execute(
            text(
                "UPDATE issue SET submitter_name=:submitter_name, submitter_phone=:submitter_phone,"
                " submitter_email=:submitter_email, uscc=:uscc, enterprise_name=:enterprise_name,"
                " title=:title, description=:description, address=:address, phone_index=NULL,"
                " uscc_index=NULL, submitter_key=:key WHERE id=:id"
            ),
            {**plain, "key": legacy_key, "id": issue.id},
        )
        await session.commit()


async def _stored(sessionmaker: AsyncSessionMaker, column: str, table: str = "issue") -> list[str]:
    async with sessionmaker() as session:
        rows = await session.execute(
            text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")
        )
        return [str(value) for (value,) in rows]


async def test_plaintext_rows_are_sealed_by_a_resumable_sweep_and_behave_as_before(
    intake_client: httpx.AsyncClient, channel_key: str, intake_sessionmaker: AsyncSessionMaker
) -> None:
    person = await _submit(intake_client, channel_key, submitter=PERSON)
    enterprise = await _submit(
        intake_client, channel_key, title="厂房消防验收排期", description="消防验收一直排不上",
        submitter={"kind": "enterprise", "name": "孙经理", "phone": "13722223333", "uscc": USCC,
                   "enterprise_name": "邯郸新兴国际物流有限公司"},
    )  # fmt: skip
    report = await _submit(
        intake_client, channel_key, channel="report_platform", type="report",
        title="窗口人员吃拿卡要", description="办理备案时工作人员暗示要好处费",
        submitter={"kind": "person", "name": "周举报", "phone": "13733334444"},
    )  # fmt: skip
    numbers = [person["tracking_no"], enterprise["tracking_no"], report["tracking_no"]]
    for number in numbers:
        await _as_before_encryption(intake_sessionmaker, number)
    assert "13711112222" in await _stored(intake_sessionmaker, "submitter_phone")
    assert "周举报" in await _stored(intake_sessionmaker, "submitter_name")

    # Resumable: a run cut short (one row per batch, no time) does part; the next ones the rest.
    issue_only = [Issue]
    first = await sweep(intake_sessionmaker, issue_only, run_seconds=0, batch=1)
    assert first.sealed == 1
    while (await sweep(intake_sessionmaker, issue_only, run_seconds=0, batch=1)).sealed:
        pass
    for column in ("submitter_name", "submitter_phone", "submitter_email", "uscc"):
        assert all(value.startswith(PREFIX) for value in await _stored(intake_sessionmaker, column))
    async with intake_sessionmaker() as session:
        stored = (await session.scalars(select(Issue).where(Issue.tracking_no == numbers[2]))).one()
        # The whistleblower's identity went to the confidential ring, and the report's text was
        # sealed and taken out of the search grams.
        assert isinstance(stored.submitter_name, Sealed)
        assert sealed_key_id(stored.submitter_name.token) == ("confidential", "dev")
        raw_title = await session.scalar(
            select(type_coerce(Issue.title, Text())).where(Issue.id == stored.id)
        )
        assert str(raw_title).startswith(PREFIX)
        assert not any("吃拿" in gram or "好处" in gram for gram in stored.search_grams or [])
    # Nothing more is due: a further run touches nothing.
    assert (await sweep(intake_sessionmaker, service_models(intake_spec))).sealed >= 0
    assert (await sweep(intake_sessionmaker, issue_only)).sealed == 0

    # Ownership by phone (blind index), duplicates by the re-keyed submitter, credit-code reads.
    owner = await intake_client.get(
        f"/v1/requests/{numbers[0]}", headers={"X-Submitter-Phone": "13711112222"}
    )
    assert owner.status_code == 200, owner.text
    stranger = await intake_client.get(
        f"/v1/requests/{numbers[0]}", headers={"X-Submitter-Phone": "13700000000"}
    )
    assert stranger.status_code == 404
    again = await _submit(intake_client, channel_key, submitter=PERSON)
    assert again["status"] == "duplicate"
    assert again["duplicate_of"] == numbers[0]


async def test_a_rotation_under_load_loses_nothing(
    rings: dict[str, Any],
    intake_client: httpx.AsyncClient,
    channel_key: str,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    expected: dict[str, str] = {}

    async def submit(index: int, kind: str) -> None:
        phone = f"1360000{index:04d}"
        body = {"submitter": {"kind": "person", "name": f"用户{index}", "phone": phone},
                "title": f"第{index}件诉求", "description": f"内容各不相同编号{index}号"}  # fmt: skip
        if kind == "report":
            body.update(channel="report_platform", type="report")
        receipt = await _submit(intake_client, channel_key, **body)
        expected[receipt["tracking_no"]] = f"用户{index}"

    await asyncio.gather(*(submit(i, "report" if i % 4 == 0 else "help") for i in range(12)))
    old_data, old_confidential = rings["data"], rings["confidential"]
    new_data, new_confidential = fresh_key(), fresh_key()
    rings["use"](
        {"k1": old_data, "k2": new_data},
        "k2",
        {"c1": old_confidential, "c2": new_confidential},
        "c2",
    )

    async def rotate() -> None:
        for _ in range(20):
            await sweep(intake_sessionmaker, service_models(intake_spec), run_seconds=0, batch=3)
            await asyncio.sleep(0)

    # Submissions keep arriving while the sweep re-wraps.
    await asyncio.gather(rotate(), *(submit(i, "report" if i % 4 == 0 else "help")
                                     for i in range(12, 30)))  # fmt: skip
    while (await sweep(intake_sessionmaker, service_models(intake_spec))).sealed:
        pass

    # The retired keys leave the ring: everything still opens, under the new keys only.
    rings["use"]({"k2": new_data}, "k2", {"c2": new_confidential}, "c2")
    async with intake_sessionmaker() as session:
        issues = (await session.scalars(select(Issue))).all()
        await verify_keys(session, service_models(intake_spec))
        raw = (await session.execute(text("SELECT submitter_name FROM issue"))).scalars().all()
    assert {sealed_key_id(value)[1] for value in raw if sealed_key_id(value)} == {"k2", "c2"}
    assert len(issues) == len(expected) == 30
    for issue in issues:
        assert unseal(issue.submitter_name, "issue.submitter_name") == expected[issue.tracking_no]
    assert keys().personal.active == "k2"


async def test_a_key_missing_from_the_ring_or_wrong_refuses_the_start(
    rings: dict[str, Any],
    intake_client: httpx.AsyncClient,
    channel_key: str,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    await _submit(intake_client, channel_key, submitter=PERSON)
    rings["use"]({"k9": fresh_key()}, "k9", {"c1": rings["confidential"]}, "c1")
    async with intake_sessionmaker() as session:
        with pytest.raises(RuntimeError, match="unknown|k1"):
            await verify_keys(session, service_models(intake_spec))
    rings["use"]({"k1": fresh_key()}, "k1", {"c1": rings["confidential"]}, "c1")
    async with intake_sessionmaker() as session:
        with pytest.raises(RuntimeError, match="does not open"):
            await verify_keys(session, service_models(intake_spec))
    # The sweep reports an unreadable row and leaves it as it is (nothing rewritten or lost).
    rings["use"]({"k9": fresh_key()}, "k9", {"c1": rings["confidential"]}, "c1")
    before = await _stored(intake_sessionmaker, "submitter_phone")
    counts = await sweep(intake_sessionmaker, [Issue])
    assert counts.unreadable == 1
    assert await _stored(intake_sessionmaker, "submitter_phone") == before


async def test_a_cppcc_members_phone_is_sealed_and_still_finds_a_second_registration(
    intake_client: httpx.AsyncClient, intake_sessionmaker: AsyncSessionMaker
) -> None:
    """A member's phone is stored sealed with a blind index; "already registered" is decided
    on the index, and a member registered before sealing is sealed by the sweep and then
    still found."""
    from intake_service.models import ApiKey, CppccMember
    from tests.fixtures.clients import make_key

    key = await make_key(intake_sessionmaker, ApiKey, "cppcc_165")
    base, headers = "/v1/cppcc", {"X-API-Key": key}
    station = await intake_client.post(f"{base}/stations", headers=headers,
                                       json={"name": "经济界别联络站", "sector": "经济界"})  # fmt: skip
    assert station.status_code == 201, station.text
    body = {"name": "赵一鸣", "phone": "13833334444", "station_id": station.json()["id"]}
    created = await intake_client.post(f"{base}/members", headers=headers, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == "13833334444"
    stored = await _stored(intake_sessionmaker, "phone", table="cppcc_member")
    assert stored
    assert all(value.startswith(PREFIX) for value in stored)
    again = await intake_client.post(f"{base}/members", headers=headers,
                                     json={**body, "phone": "138 3333 4444"})  # fmt: skip
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "member_exists"

    # As the previous release stored it: plain, no index. The sweep seals it; still found.
    async with intake_sessionmaker() as session:
        await session.execute(
            text("UPDATE cppcc_member SET phone = '13833334444', phone_index = NULL")
        )
        await session.commit()
    assert (await sweep(intake_sessionmaker, [CppccMember])).sealed == 1
    assert all(
        value.startswith(PREFIX)
        for value in await _stored(intake_sessionmaker, "phone", table="cppcc_member")
    )
    again = await intake_client.post(f"{base}/members", headers=headers, json=body)
    assert again.status_code == 409
    shown = await intake_client.get(f"{base}/members/{created.json()['id']}", headers=headers)
    assert shown.json()["phone"] == "13833334444"
