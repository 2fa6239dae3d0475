"""The evaluation API: scorecards, rankings, policy, annual evaluation, exports, access and
errors."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from openpyxl import load_workbook

from services.db import AsyncSessionMaker
from tests.scoring_service.evaluation.helpers import (
    FG,
    GH,
    GM,
    JT,
    KG,
    card,
    expected_jt,
    sh,
    token,
)

pytestmark = pytest.mark.usefixtures("frozen_now")

SCORECARDS = "/v1/evaluation/scorecards"
ANNUAL = "/v1/evaluation/annual"
POLICY = "/v1/evaluation/policy"
LEADER = token("leader")
AUDITOR = token("auditor")
JT_LIAISON = token("liaison", JT, "HS/DEPT-JT")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["message"]
    assert body["message_en"]
    return str(body["code"])


@pytest.mark.usefixtures("october")
class TestScorecards:
    async def test_list_with_ranks(self, scoring_client: httpx.AsyncClient) -> None:
        body = ok(
            await scoring_client.get(SCORECARDS, params={"month": "2026-10"}, headers=AUDITOR)
        )
        assert body["month"] == "2026-10"
        assert [(u["unit_code"], u["rank"], u["score"]) for u in body["units"]] == [
            (GH, 1, 100.0), (GM, 2, 80.0), (JT, 3, 74.64), (FG, None, None)
        ]  # fmt: skip
        jt = next(u for u in body["units"] if u["unit_code"] == JT)
        assert {k: v for k, v in jt.items() if k != "rank"} == expected_jt()
        assert [e["unit_code"] for e in body["top"]] == [GH, GM, JT]
        assert body["bottom"] == []
        assert body["policy"]["weight_satisfaction"] == 40

    async def test_top_parameter_and_kind(self, scoring_client: httpx.AsyncClient) -> None:
        body = ok(
            await scoring_client.get(
                SCORECARDS, params={"month": "2026-10", "top": 1}, headers=LEADER
            )
        )
        assert [e["unit_code"] for e in body["top"]] == [GH]
        assert [e["unit_code"] for e in body["bottom"]] == [JT]
        streets = ok(await scoring_client.get(
            SCORECARDS, params={"month": "2026-10", "unit_kind": "street_center"}, headers=LEADER
        ))  # fmt: skip
        assert [(u["unit_code"], u["rank"]) for u in streets["units"]] == [(GM, 1)]

    async def test_one_unit(self, scoring_client: httpx.AsyncClient) -> None:
        jt = ok(
            await scoring_client.get(
                f"{SCORECARDS}/{JT}", params={"month": "2026-10"}, headers=AUDITOR
            )
        )
        assert jt["rank"] == 3
        assert jt["score"] == 74.64
        kg = ok(
            await scoring_client.get(
                f"{SCORECARDS}/{KG}", params={"month": "2026-10"}, headers=AUDITOR
            )
        )
        assert (kg["dispatched"], kg["score"], kg["sign_on_time"]["rate"]) == (0, None, None)

    async def test_empty_month_is_zeros_not_an_error(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        body = ok(
            await scoring_client.get(SCORECARDS, params={"month": "2024-02"}, headers=AUDITOR)
        )
        assert body["units"] == []
        jt = ok(
            await scoring_client.get(
                f"{SCORECARDS}/{JT}", params={"month": "2024-02"}, headers=AUDITOR
            )
        )
        assert jt["dispatched"] == 0
        assert jt["completion_on_time"] == {
            "numerator": 0,
            "denominator": 0,
            "rate": None,
            "pending": 0,
        }
        assert jt["score"] is None

    async def test_unknown_unit_is_404(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(
            f"{SCORECARDS}/DEPT-NONE", params={"month": "2026-10"}, headers=AUDITOR
        )
        assert error_code(response, 404) == "unit_not_found"


@pytest.mark.usefixtures("october")
class TestPolicy:
    async def test_defaults_then_change(self, scoring_client: httpx.AsyncClient) -> None:
        before = ok(await scoring_client.get(POLICY, params={"month": "2026-10"}, headers=AUDITOR))
        assert before["source"] == "settings"
        assert before["effective_month"] is None
        assert (before["weight_sign"], before["basic_satisfaction_k"], before["deduction_red"]) == (
            10,
            1,
            0.5,
        )

        put = ok(
            await scoring_client.put(
                f"{POLICY}/2026-10", json={"basic_satisfaction_k": 0.5}, headers=LEADER
            )
        )
        assert put["effective_month"] == "2026-10"
        assert put["created_by"] == "staff:leader@HS"

        november = ok(
            await scoring_client.get(POLICY, params={"month": "2026-11"}, headers=AUDITOR)
        )
        assert (november["source"], november["basic_satisfaction_k"]) == ("policy", 0.5)
        september = ok(
            await scoring_client.get(POLICY, params={"month": "2026-09"}, headers=AUDITOR)
        )
        assert september["source"] == "settings"

        body = ok(
            await scoring_client.get(SCORECARDS, params={"month": "2026-10"}, headers=AUDITOR)
        )
        jt = next(u for u in body["units"] if u["unit_code"] == JT)
        assert {k: v for k, v in jt.items() if k != "rank"} == expected_jt(k=0.5)
        assert [u["unit_code"] for u in body["units"][:3]] == [GH, JT, GM]

        # Setting the same month again replaces it.
        again = ok(
            await scoring_client.put(f"{POLICY}/2026-10", json={"weight_sign": 20}, headers=LEADER)
        )
        assert (again["weight_sign"], again["basic_satisfaction_k"]) == (20, 0.5)

    async def test_policy_validation_and_access(self, scoring_client: httpx.AsyncClient) -> None:
        auditor = await scoring_client.put(
            f"{POLICY}/2026-10", json={"weight_sign": 5}, headers=AUDITOR
        )
        assert error_code(auditor, 403) == "forbidden"
        negative = await scoring_client.put(
            f"{POLICY}/2026-10", json={"weight_sign": -1}, headers=LEADER
        )
        assert error_code(negative, 422) == "validation_error"
        big_k = await scoring_client.put(
            f"{POLICY}/2026-10", json={"basic_satisfaction_k": 2}, headers=LEADER
        )
        assert error_code(big_k, 422) == "validation_error"
        unknown = await scoring_client.put(
            f"{POLICY}/2026-10", json={"weight_speed": 1}, headers=LEADER
        )
        assert error_code(unknown, 422) == "validation_error"
        zero = {
            "weight_sign": 0,
            "weight_on_time": 0,
            "weight_satisfaction": 0,
            "weight_resolution": 0,
        }
        assert (
            error_code(
                await scoring_client.put(f"{POLICY}/2026-10", json=zero, headers=LEADER), 422
            )
            == "invalid_policy"
        )
        bad_month = await scoring_client.put(f"{POLICY}/2026-13", json={}, headers=LEADER)
        assert error_code(bad_month, 422) == "invalid_month"


@pytest.mark.usefixtures("october")
class TestAnnual:
    async def test_annual_ranking(self, scoring_client: httpx.AsyncClient) -> None:
        body = ok(await scoring_client.get(ANNUAL, params={"year": "2026"}, headers=AUDITOR))
        assert [(u["unit_code"], u["score"], u["rank"]) for u in body["units"]] == [
            (GM, 80.0, 1), (FG, 75.0, 2), (GH, 50.0, 3), (JT, 29.64, 4), (KG, 25.0, 5)
        ]  # fmt: skip
        jt = next(u for u in body["units"] if u["unit_code"] == JT)
        assert jt["months_scored"] == 3
        assert [m["score"] for m in jt["months"]][8:] == [14.29, 74.64, 0.0, None]

    async def test_annual_of_one_unit(self, scoring_client: httpx.AsyncClient) -> None:
        own = ok(
            await scoring_client.get(f"{ANNUAL}/{JT}", params={"year": "2026"}, headers=JT_LIAISON)
        )
        assert (own["score"], own["rank"]) == (29.64, 4)
        other = await scoring_client.get(
            f"{ANNUAL}/{GH}", params={"year": "2026"}, headers=JT_LIAISON
        )
        assert error_code(other, 403) == "forbidden"
        missing = await scoring_client.get(
            f"{ANNUAL}/NOPE", params={"year": "2026"}, headers=AUDITOR
        )
        assert error_code(missing, 404) == "unit_not_found"

    @pytest.mark.parametrize("year", ["20x6", "1800", "26"])
    async def test_bad_year(self, scoring_client: httpx.AsyncClient, year: str) -> None:
        response = await scoring_client.get(ANNUAL, params={"year": year}, headers=AUDITOR)
        assert error_code(response, 422) == "invalid_year"


@pytest.mark.usefixtures("october")
class TestExport:
    async def test_scorecards_csv(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(
            f"{SCORECARDS}/export", params={"month": "2026-10", "format": "csv"}, headers=AUDITOR
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        disposition = response.headers["content-disposition"]
        assert 'filename="scorecards-2026-10.csv"' in disposition
        assert f"filename*=UTF-8''{quote('月度考核成绩-2026-10.csv')}" in disposition
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        header = rows[0]
        for title in ["单位编码", "单位名称", "派单数", "按时签收率", "响应率", "按时办结率", "解决率",
                      "满意率", "发回重办率", "回退率", "平均办结工作日", "超期件数", "得分", "排名"]:  # fmt: skip
            assert title in header
        jt = dict(zip(header, rows[3], strict=True))
        assert jt["单位编码"] == JT
        assert jt["单位名称"] == "区交通运输局"
        assert (jt["派单数"], jt["按时签收率"], jt["满意率"], jt["回退率"]) == (
            "7",
            "71.43%",
            "75.00%",
            "14.29%",
        )
        assert (jt["平均办结工作日"], jt["超期件数"], jt["得分"], jt["排名"]) == (
            "8.4",
            "2",
            "74.64",
            "3",
        )
        fg = dict(zip(header, rows[4], strict=True))
        assert (fg["单位编码"], fg["按时签收率"], fg["得分"], fg["排名"]) == (FG, "", "", "")

    async def test_scorecards_xlsx(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(
            f"{SCORECARDS}/export", params={"month": "2026-10", "format": "xlsx"}, headers=AUDITOR
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert 'filename="scorecards-2026-10.xlsx"' in response.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        header = list(rows[0])
        assert header[:4] == ["单位编码", "单位名称", "单位类别", "派单数"]
        assert "满意率" in header
        first = dict(zip(header, rows[1], strict=True))
        assert (first["单位编码"], first["得分"], first["排名"], first["按时签收率"]) == (
            GH,
            100,
            1,
            1,
        )
        jt = dict(zip(header, rows[3], strict=True))
        assert jt["按时签收率"] == pytest.approx(0.7143)
        column = header.index("按时签收率") + 1
        assert sheet.cell(row=4, column=column).number_format == "0.00%"

    async def test_annual_exports(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(
            f"{ANNUAL}/export", params={"year": "2026"}, headers=AUDITOR
        )
        assert response.status_code == 200, response.text
        assert (
            f"filename*=UTF-8''{quote('年终综合考评-2026.csv')}"
            in response.headers["content-disposition"]
        )
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:4] == ["单位编码", "单位名称", "单位类别", "1月得分"]
        assert rows[0][-3:] == ["计分月数", "年终综合考评得分", "排名"]
        assert rows[1][0] == GM
        assert rows[1][-3:] == ["1", "80.0", "1"]
        xlsx = await scoring_client.get(
            f"{ANNUAL}/export", params={"year": "2026", "format": "xlsx"}, headers=AUDITOR
        )
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        header = [cell.value for cell in sheet[1]]
        assert header[-1] == "排名"
        assert sheet.cell(row=5, column=1).value == JT
        assert sheet.cell(row=5, column=len(header) - 1).value == 29.64

    async def test_formula_like_names_are_defused(
        self, scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
    ) -> None:
        async with scoring_sessionmaker() as session:
            session.add(card(("EVIL", '=HYPERLINK("http://x")'), uuid.uuid4(),
                             dispatched=sh(10, 20), signed=sh(10, 20, 10), due=sh(10, 27, 17, 30)))  # fmt: skip
            await session.commit()
        response = await scoring_client.get(
            f"{SCORECARDS}/export", params={"month": "2026-10"}, headers=AUDITOR
        )
        assert "'=HYPERLINK" in response.content.decode("utf-8-sig")

    async def test_bad_format(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(
            f"{SCORECARDS}/export", params={"month": "2026-10", "format": "pdf"}, headers=AUDITOR
        )
        assert error_code(response, 422) == "validation_error"


class TestAccessAndErrors:
    async def test_needs_a_token(self, scoring_client: httpx.AsyncClient) -> None:
        assert error_code(await scoring_client.get(SCORECARDS), 401) == "unauthorized"
        bad = await scoring_client.get(SCORECARDS, headers={"Authorization": "Bearer nonsense"})
        assert error_code(bad, 401) == "invalid_token"
        basic = await scoring_client.get(SCORECARDS, headers={"Authorization": "Basic abc"})
        assert error_code(basic, 401) == "unauthorized"

    @pytest.mark.usefixtures("october")
    async def test_department_reads_only_its_own_unit(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        own = ok(
            await scoring_client.get(
                f"{SCORECARDS}/{JT}", params={"month": "2026-10"}, headers=JT_LIAISON
            )
        )
        assert own["score"] == 74.64
        other = await scoring_client.get(
            f"{SCORECARDS}/{GH}", params={"month": "2026-10"}, headers=JT_LIAISON
        )
        assert error_code(other, 403) == "forbidden"
        for path in (SCORECARDS, f"{SCORECARDS}/export", ANNUAL, f"{ANNUAL}/export"):
            response = await scoring_client.get(path, headers=JT_LIAISON)
            assert error_code(response, 403) == "forbidden"

    async def test_roles_without_evaluation_access(self, scoring_client: httpx.AsyncClient) -> None:
        officer = token("discipline_officer", "JW", "HS/JW")
        assert error_code(await scoring_client.get(SCORECARDS, headers=officer), 403) == "forbidden"

    @pytest.mark.parametrize("month", ["2026-13", "2026-1", "abc", "2026-10-01", "２０２６-10"])
    async def test_bad_month(self, scoring_client: httpx.AsyncClient, month: str) -> None:
        for path in (SCORECARDS, f"{SCORECARDS}/{JT}", f"{SCORECARDS}/export", POLICY):
            response = await scoring_client.get(path, params={"month": month}, headers=AUDITOR)
            assert error_code(response, 422) == "invalid_month"

    async def test_bad_unit_code_in_path(self, scoring_client: httpx.AsyncClient) -> None:
        response = await scoring_client.get(f"{SCORECARDS}/bad code!", headers=AUDITOR)
        assert error_code(response, 422) == "validation_error"

    async def test_default_month_is_the_current_one(
        self, scoring_client: httpx.AsyncClient
    ) -> None:
        body = ok(await scoring_client.get(POLICY, headers=AUDITOR))
        assert body["month"] == "2026-11"
