"""The history chains hashed with SM3: new chains use it, SHA-256 chains from before the switch
keep verifying and grow with SM3 events, tampering shows under both, the verify answers say which
algorithms a chain uses."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select, update

from routing_service.assignment.history import GENESIS, chain_digest, hex_digest
from routing_service.config import settings
from routing_service.models import CaseEvent, ProjectEvent
from services.db import AsyncSessionMaker
from tests.fixtures.org import Org
from tests.routing_service.assignment.helpers import arrive, ok, verify_and_dispatch
from tests.routing_service.project.test_projects import project


def sm3(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def case_material(event: CaseEvent) -> bytes:
    """What a case event's hash covers, rebuilt here rather than through the service's code."""
    body = {
        "case_id": str(event.case_id), "seq": event.seq,
        "card_id": str(event.card_id) if event.card_id else None, "actor": event.actor,
        "action": event.action, "from": event.from_status, "to": event.to_status,
        "reason": event.reason, "data": event.data,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
    }  # fmt: skip
    return event.prev_hash.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


async def case_events(sessionmaker: AsyncSessionMaker, case_id: uuid.UUID) -> list[CaseEvent]:
    async with sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
                )
            ).all()
        )


async def case_check(client: httpx.AsyncClient, org: Org, case_id: uuid.UUID) -> dict[str, Any]:
    answer: dict[str, Any] = await ok(
        await client.get(f"/v1/cases/{case_id}/history/verify", headers=org.auth("auditor"))
    )
    return answer


async def alter_case_event(
    sessionmaker: AsyncSessionMaker, case_id: uuid.UUID, seq: int, **values: Any
) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.seq == seq)
            .values(**values)
        )
        await session.commit()


class TestSm3:
    @pytest.mark.parametrize(
        ("message", "expected"),
        [
            # GB/T 32905-2016, appendix A: the two sample messages.
            (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
            (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
        ],
    )
    def test_known_answers(self, message: bytes, expected: str) -> None:
        assert hex_digest("sm3", message) == expected

    def test_each_algorithm_gives_its_own_digest(self) -> None:
        body = {"seq": 1, "actor": "系统", "data": {"备注": "中文"}}
        canonical = GENESIS.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        assert chain_digest(GENESIS, body, "sm3") == sm3(canonical)
        assert chain_digest(GENESIS, body, "sha256") == hashlib.sha256(canonical).hexdigest()
        with pytest.raises(ValueError, match="unknown history hash algorithm"):
            chain_digest(GENESIS, body, "md5")

    def test_sm3_is_the_default(self) -> None:
        assert type(settings).model_fields["history_hash"].default == "sm3"


class TestCaseChain:
    async def test_a_new_chain_is_hashed_with_sm3(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(routing_sessionmaker)
        await verify_and_dispatch(routing_client, org, case_id)
        events = await case_events(routing_sessionmaker, case_id)
        assert len(events) >= 3
        for event in events:
            assert event.hash_alg == "sm3"
            assert event.hash == sm3(case_material(event))
            assert event.hash != hashlib.sha256(case_material(event)).hexdigest()
        listed = await ok(
            await routing_client.get(f"/v1/cases/{case_id}/history", headers=org.auth("auditor"))
        )
        assert {e["hash_alg"] for e in listed} == {"sm3"}
        check = await case_check(routing_client, org, case_id)
        assert check["valid"] is True
        assert check["algorithms"] == ["sm3"]
        assert check["current_algorithm"] == "sm3"

        # Tampering with an SM3 event is found at that event.
        await alter_case_event(routing_sessionmaker, case_id, 2, reason="改过的理由")
        check = await case_check(routing_client, org, case_id)
        assert (check["valid"], check["broken_at_seq"], check["problem"]) == (
            False, 2, "content altered",
        )  # fmt: skip

    async def test_an_old_sha256_chain_keeps_verifying_and_grows_with_sm3(
        self,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        org: Org,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "history_hash", "sha256")
        case_id = await arrive(routing_sessionmaker)
        old = await case_events(routing_sessionmaker, case_id)
        assert [e.hash_alg for e in old] == ["sha256"] * len(old)
        assert old[0].hash == hashlib.sha256(case_material(old[0])).hexdigest()
        check = await case_check(routing_client, org, case_id)
        assert (check["valid"], check["algorithms"], check["current_algorithm"]) == (
            True, ["sha256"], "sha256",
        )  # fmt: skip

        monkeypatch.setattr(settings, "history_hash", "sm3")
        await verify_and_dispatch(routing_client, org, case_id)
        events = await case_events(routing_sessionmaker, case_id)
        assert len(events) > len(old)
        assert [e.hash_alg for e in events] == ["sha256"] * len(old) + ["sm3"] * (
            len(events) - len(old)
        )
        # The first SM3 event links to the last SHA-256 one.
        first_sm3 = events[len(old)]
        assert first_sm3.prev_hash == old[-1].hash
        assert first_sm3.hash == sm3(case_material(first_sm3))
        check = await case_check(routing_client, org, case_id)
        assert check["valid"] is True
        assert check["events"] == len(events)
        assert (check["algorithms"], check["current_algorithm"]) == (["sha256", "sm3"], "sm3")

        every = await ok(
            await routing_client.get(
                "/v1/audit/verify", headers=org.auth("auditor"), params={"only_broken": False}
            )
        )
        mine = [c for c in every["items"] if c["case_id"] == str(case_id)]
        assert mine[0]["algorithms"] == ["sha256", "sm3"]

        # Tampering is found in either part: an SM3 event, then (earlier) a SHA-256 one.
        for seq in (len(events), 1):
            await alter_case_event(routing_sessionmaker, case_id, seq, actor="staff:someone_else")
            check = await case_check(routing_client, org, case_id)
            assert (check["valid"], check["broken_at_seq"], check["problem"]) == (
                False, seq, "content altered",
            )  # fmt: skip
        broken = await ok(await routing_client.get("/v1/audit/verify", headers=org.auth("auditor")))
        assert [b["case_id"] for b in broken["items"]] == [str(case_id)]
        assert broken["items"][0]["algorithms"] == ["sha256", "sm3"]

    async def test_relabelling_an_event_breaks_the_chain(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker, org: Org
    ) -> None:
        case_id = await arrive(routing_sessionmaker)
        await verify_and_dispatch(routing_client, org, case_id)
        # An SM3 event claimed to be SHA-256 no longer matches its hash.
        await alter_case_event(routing_sessionmaker, case_id, 2, hash_alg="sha256")
        check = await case_check(routing_client, org, case_id)
        assert (check["valid"], check["broken_at_seq"], check["problem"]) == (
            False, 2, "content altered",
        )  # fmt: skip
        assert check["algorithms"] == ["sm3", "sha256"]
        # An algorithm the service does not know is a broken chain, not an error.
        await alter_case_event(routing_sessionmaker, case_id, 2, hash_alg="md5")
        check = await case_check(routing_client, org, case_id)
        assert (check["valid"], check["broken_at_seq"], check["problem"]) == (
            False, 2, "unknown hash algorithm",
        )  # fmt: skip


class TestProjectChain:
    async def test_sha256_then_sm3_verifies_and_tampering_is_found(
        self,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        org: Org,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "history_hash", "sha256")
        created = await routing_client.post(
            "/v1/projects", headers=org.auth("gm_dispatcher"), json=project()
        )
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        verify = f"/v1/projects/{pid}/history/verify"
        check = await ok(await routing_client.get(verify, headers=org.auth("auditor")))
        assert (check["valid"], check["algorithms"], check["current_algorithm"]) == (
            True, ["sha256"], "sha256",
        )  # fmt: skip

        monkeypatch.setattr(settings, "history_hash", "sm3")
        for target in ("signed", "started"):
            await ok(await routing_client.post(f"/v1/projects/{pid}/stage",
                                               headers=org.auth("gm_dispatcher"), json={"stage": target}))  # fmt: skip
        detail = await ok(
            await routing_client.get(f"/v1/projects/{pid}", headers=org.auth("hs_leader"))
        )
        assert [e["hash_alg"] for e in detail["history"]] == ["sha256", "sm3", "sm3"]
        async with routing_sessionmaker() as session:
            events = (
                await session.scalars(
                    select(ProjectEvent)
                    .where(ProjectEvent.project_id == uuid.UUID(pid))
                    .order_by(ProjectEvent.seq)
                )
            ).all()
        body = {
            "project_id": pid, "seq": 2, "actor": events[1].actor, "action": events[1].action,
            "from": events[1].from_status, "to": events[1].to_status,
            "reason": events[1].reason, "data": events[1].data,
            "at": events[1].at.astimezone(UTC).isoformat(timespec="microseconds"),
        }  # fmt: skip
        assert events[1].prev_hash == events[0].hash
        assert events[1].hash == sm3(
            events[0].hash.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        )
        check = await ok(await routing_client.get(verify, headers=org.auth("auditor")))
        assert (check["valid"], check["events"], check["algorithms"]) == (
            True, 3, ["sha256", "sm3"],
        )  # fmt: skip

        for seq in (3, 1):  # an SM3 event, then (the earlier break) the SHA-256 one
            async with routing_sessionmaker() as session:
                await session.execute(
                    update(ProjectEvent)
                    .where(ProjectEvent.project_id == uuid.UUID(pid), ProjectEvent.seq == seq)
                    .values(reason="事后补写")
                )
                await session.commit()
            check = await ok(await routing_client.get(verify, headers=org.auth("auditor")))
            assert (check["valid"], check["broken_at_seq"]) == (False, seq)
