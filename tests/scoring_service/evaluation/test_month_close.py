"""Closing a month (关账): frozen scorecards that a later redo or policy change cannot move,
recompute with a reason as a new version, the history of versions, errors and access."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from scoring_service.evaluation.service import Month, evaluation_service
from scoring_service.models import CardFact
from services.db import AsyncSessionMaker
from tests.scoring_service.evaluation.helpers import FG, GH, GM, JT, NOW, sh, token

pytestmark = pytest.mark.usefixtures("frozen_now", "october")

SCORECARDS = "/v1/evaluation/scorecards"
MONTHS = "/v1/evaluation/months"
OCTOBER = Month(2026, 10)
ADMIN = token("admin")
LEADER = token("leader")
AUDITOR = token("auditor")
JT_LIAISON = token("liaison", JT, "HS/DEPT-JT")
LIVE_OCTOBER = [(GH, 1, 100.0), (GM, 2, 80.0), (JT, 3, 74.64), (FG, None, None)]


@pytest.fixture(autouse=True)
def _closing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # Closing checks the month has ended against the same stopped clock as the endpoints.
    monkeypatch.setattr("scoring_service.evaluation.closing.utcnow", lambda: NOW)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["message"]
    assert body["message_en"]
    return str(body["code"])


async def redo_case_a(sessionmaker: AsyncSessionMaker) -> None:
    """What the card snapshot of 发回重办 on 20 November does to JT's card for case A (approved
    16 October): back to signed, submission and approval cleared, a new due date 3 working days
    on (routing_service.assignment.service.redo)."""
    async with sessionmaker() as session:
        card = await session.scalar(
            select(CardFact).where(CardFact.unit_code == JT, CardFact.approved_at == sh(10, 16, 10))
        )
        assert card is not None
        card.revision += 1
        card.status = "signed"
        card.redo_count += 1
        card.submitted_at = None
        card.approved_at = None
        card.working_days_taken = None
        card.due_at = sh(11, 25, 23, 59)
        await session.commit()


async def live_jt_score(sessionmaker: AsyncSessionMaker) -> float | None:
    async with sessionmaker() as session:
        live = await evaluation_service.live_scorecards(session, OCTOBER, now=NOW)
    return next(card.score for card in live.units if card.unit_code == JT)


def ranking(body: dict[str, Any]) -> list[tuple[str, int | None, float | None]]:
    return [(u["unit_code"], u["rank"], u["score"]) for u in body["units"]]


async def close(client: httpx.AsyncClient, month: str = "2026-10") -> Any:
    return ok(await client.post(f"{MONTHS}/{month}/close", headers=ADMIN), 201)


async def october_list(client: httpx.AsyncClient, **params: Any) -> Any:
    return ok(await client.get(SCORECARDS, params={"month": "2026-10", **params}, headers=AUDITOR))


class TestFrozen:
    async def test_a_later_redo_does_not_move_a_closed_month(
        self, scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        before = await october_list(scoring_client)
        assert (before["closed"], before["closed_at"]) == (False, None)
        closed = await close(scoring_client)
        assert (closed["version"], closed["action"], closed["reason"]) == (1, "close", None)
        assert closed["closed_by"] == "staff:admin@HS"
        assert closed["scores"][JT] == 74.64

        await redo_case_a(scoring_sessionmaker)
        # The live computation does move: case A is no longer approved or due in October.
        assert await live_jt_score(scoring_sessionmaker) == 72.64

        after = await october_list(scoring_client)
        assert (after["closed"], after["version"]) == (True, 1)
        assert datetime.fromisoformat(after["closed_at"]) == NOW
        assert ranking(after) == LIVE_OCTOBER
        assert after["units"] == before["units"]
        jt = ok(
            await scoring_client.get(
                f"{SCORECARDS}/{JT}", params={"month": "2026-10"}, headers=JT_LIAISON
            )
        )
        assert (jt["score"], jt["rank"], jt["closed"], jt["version"]) == (74.64, 3, True, 1)
        assert (jt["completed"], jt["due_in_period"]) == (5, 6)  # case A still counted
        export = await scoring_client.get(
            f"{SCORECARDS}/export", params={"month": "2026-10"}, headers=AUDITOR
        )
        rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert any(JT in row and "74.64" in row for row in rows)
        # The year-end mean uses October as closed.
        annual = ok(await scoring_client.get(
            f"/v1/evaluation/annual/{JT}", params={"year": "2026"}, headers=AUDITOR
        ))  # fmt: skip
        assert {m["month"]: m["score"] for m in annual["months"]}["2026-10"] == 74.64
        # A month not closed is still live.
        november = ok(await scoring_client.get(
            SCORECARDS, params={"month": "2026-11"}, headers=AUDITOR
        ))  # fmt: skip
        assert november["closed"] is False

    async def test_a_policy_set_later_does_not_rescore_a_closed_month(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        await close(scoring_client)
        ok(await scoring_client.put(
            "/v1/evaluation/policy/2026-10", headers=LEADER, json={"basic_satisfaction_k": 0.5}
        ))  # fmt: skip
        after = await october_list(scoring_client)
        assert ranking(after) == LIVE_OCTOBER  # k = 0.5 would give GM 60, JT 69.64
        assert after["policy"]["basic_satisfaction_k"] == 1.0

    async def test_kind_filter_ranks_within_the_snapshot(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        await close(scoring_client)
        departments = await october_list(scoring_client, unit_kind="department", top=1)
        assert ranking(departments) == [(GH, 1, 100.0), (JT, 2, 74.64), (FG, None, None)]
        assert [e["unit_code"] for e in departments["top"]] == [GH]
        assert [e["unit_code"] for e in departments["bottom"]] == [JT]

    async def test_a_known_unit_without_cards_gets_frozen_zeros(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        await close(scoring_client)
        hs = ok(await scoring_client.get(
            f"{SCORECARDS}/HS", params={"month": "2026-10"}, headers=AUDITOR
        ))  # fmt: skip
        assert (hs["dispatched"], hs["score"], hs["closed"]) == (0, None, True)
        missing = await scoring_client.get(
            f"{SCORECARDS}/DEPT-NONE", params={"month": "2026-10"}, headers=AUDITOR
        )
        assert error_code(missing, 404) == "unit_not_found"

    async def test_redo_before_close_is_in_the_snapshot(
        self, scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        # The snapshot is the facts at closing time, not at the month's end.
        await redo_case_a(scoring_sessionmaker)
        closed = await close(scoring_client)
        assert closed["scores"][JT] == 72.64
        assert NOW - datetime.fromisoformat(closed["closed_at"]) < timedelta(seconds=1)


class TestRecompute:
    async def test_recompute_with_reason_stores_a_new_version(
        self, scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        await close(scoring_client)
        await redo_case_a(scoring_sessionmaker)
        url = f"{MONTHS}/2026-10/recompute"
        for body in (None, {}, {"reason": "   "}):
            refused = await scoring_client.post(url, headers=ADMIN, json=body)
            assert error_code(refused, 422) == "reason_required"
        assert (await october_list(scoring_client))["version"] == 1  # nothing stored

        version = ok(await scoring_client.post(
            url, headers=ADMIN, json={"reason": "交通局10月案件发回重办,经领导批准重算"}
        ), 201)  # fmt: skip
        assert (version["version"], version["action"]) == (2, "recompute")
        assert version["scores"][JT] == 72.64
        after = await october_list(scoring_client)
        assert (after["closed"], after["version"]) == (True, 2)
        assert next(u["score"] for u in after["units"] if u["unit_code"] == JT) == 72.64

        history = ok(await scoring_client.get(f"{MONTHS}/2026-10/history", headers=AUDITOR))
        assert history["closed"] is True
        assert [
            (v["version"], v["action"], v["reason"], v["closed_by"], v["current"], v["scores"][JT])
            for v in history["versions"]
        ] == [
            (1, "close", None, "staff:admin@HS", False, 74.64),
            (2, "recompute", "交通局10月案件发回重办,经领导批准重算", "staff:admin@HS", True, 72.64),
        ]  # fmt: skip

    async def test_an_old_version_stays_unchanged(
        self, scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        await close(scoring_client)
        await redo_case_a(scoring_sessionmaker)
        url = f"{MONTHS}/2026-10/recompute"
        ok(await scoring_client.post(url, headers=ADMIN, json={"reason": "第一次重算"}), 201)
        ok(await scoring_client.post(url, headers=ADMIN, json={"reason": "第二次重算"}), 201)
        history = ok(await scoring_client.get(f"{MONTHS}/2026-10/history", headers=LEADER))
        assert [(v["version"], v["scores"][JT]) for v in history["versions"]] == [
            (1, 74.64), (2, 72.64), (3, 72.64)
        ]  # fmt: skip


class TestErrors:
    async def test_an_unfinished_month_cannot_close(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        refused = await scoring_client.post(f"{MONTHS}/2026-11/close", headers=ADMIN)
        assert error_code(refused, 409) == "month_not_finished"
        assert (await scoring_client.get(f"{MONTHS}/2026-11/history", headers=ADMIN)).json()[
            "versions"
        ] == []

    async def test_closing_twice_and_recomputing_an_open_month(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        await close(scoring_client)
        again = await scoring_client.post(f"{MONTHS}/2026-10/close", headers=ADMIN)
        assert error_code(again, 409) == "month_already_closed"
        open_month = await scoring_client.post(
            f"{MONTHS}/2026-09/recompute", headers=ADMIN, json={"reason": "更正九月数据"}
        )
        assert error_code(open_month, 409) == "month_not_closed"
        bad = await scoring_client.post(f"{MONTHS}/2026-13/close", headers=ADMIN)
        assert error_code(bad, 422) == "invalid_month"

    async def test_concurrent_closes_store_one_version(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        responses = await asyncio.gather(
            *(scoring_client.post(f"{MONTHS}/2026-10/close", headers=ADMIN) for _ in range(3))
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409]
        history = ok(await scoring_client.get(f"{MONTHS}/2026-10/history", headers=ADMIN))
        assert [v["version"] for v in history["versions"]] == [1]


class TestAccess:
    @pytest.mark.parametrize("role", ["leader", "supervisor", "operator", "auditor", "liaison"])
    async def test_only_admins_close_and_recompute(
        self, role: str, scoring_client: httpx.AsyncClient
    ) -> None:
        headers = token(role, JT, "HS/DEPT-JT") if role == "liaison" else token(role)
        refused = await scoring_client.post(f"{MONTHS}/2026-10/close", headers=headers)
        assert error_code(refused, 403) == "forbidden"
        await close(scoring_client)
        refused = await scoring_client.post(
            f"{MONTHS}/2026-10/recompute", headers=headers, json={"reason": "越权重算"}
        )
        assert error_code(refused, 403) == "forbidden"
        assert (await october_list(scoring_client))["version"] == 1

    async def test_history_is_not_for_department_staff(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        refused = await scoring_client.get(f"{MONTHS}/2026-10/history", headers=JT_LIAISON)
        assert error_code(refused, 403) == "forbidden"
        for method, path in (
            ("POST", "close"),
            ("POST", "recompute"),
            ("GET", "history"),
        ):
            anonymous = await scoring_client.request(method, f"{MONTHS}/2026-10/{path}")
            assert error_code(anonymous, 401) == "unauthorized"


class TestLocation:
    async def test_close_and_recompute_name_the_months_history(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        history = f"{MONTHS}/2026-10/history"
        closed = await scoring_client.post(f"{MONTHS}/2026-10/close", headers=ADMIN)
        assert closed.status_code == 201, closed.text
        assert closed.headers["location"] == history
        versions = ok(await scoring_client.get(closed.headers["location"], headers=LEADER))
        assert [v["version"] for v in versions["versions"]] == [1]
        recomputed = await scoring_client.post(
            f"{MONTHS}/2026-10/recompute", headers=ADMIN, json={"reason": "更正十月数据"}
        )
        assert recomputed.status_code == 201, recomputed.text
        assert recomputed.headers["location"] == history
        versions = ok(await scoring_client.get(recomputed.headers["location"], headers=LEADER))
        assert [v["version"] for v in versions["versions"]] == [1, 2]
        newest = versions["versions"][-1]
        assert newest["reason"] == recomputed.json()["reason"] == "更正十月数据"
        assert datetime.fromisoformat(newest["closed_at"]) == datetime.fromisoformat(
            recomputed.json()["closed_at"]
        )
