"""Loading a whole org tree: the packaged Hanshan seed, idempotent re-imports, all-or-nothing
validation with row-level errors, YAML and JSON, and the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import func, select

from routing_service.department.loader import main, seed_document
from routing_service.models import DispatchRule, OrgUnit, StaffUser
from services.auth import issue_token
from services.db import AsyncSessionMaker
from tests.fixtures.environment import RUN_DATABASE_URL
from tests.fixtures.org import Org

IMPORT = "/v1/org/import"
YAML = {"Content-Type": "application/yaml"}


def admin_headers(**extra: str) -> dict[str, str]:
    """An admin token needs no database row, so an empty installation can be loaded."""
    token = issue_token(subject="bootstrap", role="admin", unit_code=None, unit_path=None)
    return {"Authorization": f"Bearer {token}", **extra}


def small_document(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "district": {
            "code": "QX",
            "name": "某区营商环境优化中心",
            "streets": [
                {
                    "code": "QX-A",
                    "name": "甲街道",
                    "communities": [{"code": "QX-A-1", "name": "一社区"}],
                },
                {"code": "QX-B", "name": "乙镇"},
            ],
        },
        "departments": [
            {"code": "QX-JT", "name": "交通运输局", "head_name": "张三"},
            {"code": "QX-JW", "name": "纪委监委", "kind": "discipline"},
        ],
        "staff": [
            {
                "username": "qx_admin",
                "display_name": "管理员",
                "role": "admin",
                "unit": "QX",
                "password": "0123456789ab",
            },
            {"username": "qx_jt", "display_name": "联络员", "role": "liaison", "unit": "QX-JT"},
        ],
        "dispatch_rules": [
            {"topic": "transport", "unit": "QX-JT", "confidence": 0.9},
            {"topic": "environment", "area": "QX-A", "unit": "@AREA", "note": "属地"},
        ],
    }
    doc.update(overrides)
    return doc


async def count(sessionmaker: AsyncSessionMaker, model: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestSeed:
    async def test_hanshan(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        raw = seed_document()
        response = await routing_client.post(IMPORT, content=raw, headers=admin_headers(**YAML))
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["units"]["updated"] == 0
        assert report["units"]["created"] == report["created"] - report["dispatch_rules"]["created"]
        async with routing_sessionmaker() as session:
            streets = (
                await session.scalars(select(OrgUnit).where(OrgUnit.kind == "street_center"))
            ).all()
            assert len(streets) == 19
            assert all(
                street.path == f"/HS/{street.code}/" and street.tier == 2 for street in streets
            )
            names = {street.name for street in streets}
            assert "光明路街道营商环境优化中心" in names
            assert "邯山经济开发区(园区)营商环境优化中心" in names
            departments = {
                unit.code: unit.name
                for unit in await session.scalars(
                    select(OrgUnit).where(OrgUnit.kind == "department")
                )
            }
            for expected in (
                "区自然资源和规划局",
                "区发展和改革局",
                "区交通运输局",
                "邯郸市公交总公司",
                "邯山供电公司",
            ):
                assert expected in departments.values()
            jw = await session.scalar(select(OrgUnit).where(OrgUnit.kind == "discipline"))
            assert jw is not None
            assert jw.name == "区纪委监委"
        assert (
            await count(routing_sessionmaker, DispatchRule) == report["dispatch_rules"]["created"]
        )

        again = await routing_client.post(IMPORT, content=raw, headers=admin_headers(**YAML))
        assert again.status_code == 200
        assert again.json()["created"] == 0
        assert again.json()["updated"] == 0
        assert again.json()["unchanged"] == report["created"]

    async def test_seed_onto_the_fixture_org(
        self, routing_client: httpx.AsyncClient, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        """The seed uses the same codes and names as the test org: those units are unchanged
        and keep their staff and head names."""
        response = await routing_client.post(
            IMPORT, content=seed_document(), headers={**org.auth("admin"), **YAML}
        )
        assert response.status_code == 200, response.text
        assert response.json()["units"]["unchanged"] == len(org.units)
        assert response.json()["units"]["updated"] == 0
        async with routing_sessionmaker() as session:
            gm = await session.scalar(select(OrgUnit).where(OrgUnit.code == "HS-GM"))
            assert gm is not None
            assert gm.head_name == "负责人"

    async def test_seed_rules_suggest(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        await routing_client.post(IMPORT, content=seed_document(), headers=admin_headers(**YAML))
        from routing_service.department.dispatch_rules import suggest_units

        async with routing_sessionmaker() as session:
            transport_in_park = await suggest_units(session, "transport", "HS-YQ")
            assert [s.unit_code for s in transport_in_park] == ["DEPT-GJ", "DEPT-JT"]
            assert transport_in_park[0].reason.endswith("(邯山经济开发区(园区)营商环境优化中心)")
            market = await suggest_units(session, "market_order", "HS-GM-C1")
            assert [s.unit_code for s in market] == ["DEPT-SJ", "HS-GM"]
            other = await suggest_units(session, "other", None)
            assert [s.unit_code for s in other] == ["HS"]

    def test_cli(self, org: Org, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """``python -m routing_service.department.loader`` loads the packaged seed by default."""
        assert main(["--database-url", RUN_DATABASE_URL]) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["units"]["unchanged"] == len(org.units)
        assert first["units"]["created"] > 0
        assert main(["--database-url", RUN_DATABASE_URL]) == 0
        second = json.loads(capsys.readouterr().out)
        assert (second["created"], second["updated"]) == (0, 0)

        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(small_document(departments=[{"code": "HS-GM", "name": "x"}])))
        assert main([str(bad), "--database-url", RUN_DATABASE_URL]) == 1
        errors = capsys.readouterr().err
        assert "district_mismatch" in errors
        assert "departments[0].code" in errors


class TestDocument:
    async def test_json_then_yaml_is_a_no_op(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        doc = small_document()
        response = await routing_client.post(IMPORT, json=doc, headers=admin_headers())
        assert response.status_code == 200, response.text
        assert response.json()["units"] == {"created": 6, "updated": 0, "unchanged": 0}
        assert response.json()["staff"] == {"created": 2, "updated": 0, "unchanged": 0}
        assert response.json()["dispatch_rules"] == {"created": 2, "updated": 0, "unchanged": 0}
        token = await routing_client.post(
            "/v1/auth/token", data={"username": "qx_admin", "password": "0123456789ab"}
        )
        assert token.status_code == 200
        no_password = await routing_client.post(
            "/v1/auth/token", data={"username": "qx_jt", "password": "0123456789ab"}
        )
        assert no_password.status_code == 400  # RFC 6749 invalid_grant
        assert no_password.json()["error"] == "invalid_grant"

        as_yaml = yaml.safe_dump(doc, allow_unicode=True).encode()
        again = await routing_client.post(IMPORT, content=as_yaml, headers=admin_headers(**YAML))
        assert again.status_code == 200, again.text
        assert again.json()["created"] == 0
        assert again.json()["updated"] == 0
        assert again.json()["unchanged"] == 10

    async def test_updates_and_moves(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        assert (
            await routing_client.post(IMPORT, json=small_document(), headers=admin_headers())
        ).status_code == 200
        doc = small_document()
        doc["district"]["streets"][0]["communities"] = []
        doc["district"]["streets"][1]["communities"] = [
            {"code": "QX-A-1", "name": "一社区(已划转)"}
        ]
        doc["district"]["streets"].append({"code": "QX-C", "name": "丙街道"})
        doc["dispatch_rules"][0]["confidence"] = 0.7
        doc["staff"][1]["role"] = "head"
        response = await routing_client.post(IMPORT, json=doc, headers=admin_headers())
        assert response.status_code == 200, response.text
        assert response.json()["units"] == {"created": 1, "updated": 1, "unchanged": 5}
        assert response.json()["staff"] == {"created": 0, "updated": 1, "unchanged": 1}
        assert response.json()["dispatch_rules"] == {"created": 0, "updated": 1, "unchanged": 1}
        async with routing_sessionmaker() as session:
            moved = await session.scalar(select(OrgUnit).where(OrgUnit.code == "QX-A-1"))
            assert moved is not None
            assert moved.path == "/QX/QX-B/QX-A-1/"
            assert moved.name == "一社区(已划转)"
            head = await session.scalar(select(StaffUser).where(StaffUser.username == "qx_jt"))
            assert head is not None
            assert head.role == "head"
            jt = await session.scalar(select(OrgUnit).where(OrgUnit.code == "QX-JT"))
            assert jt is not None
            assert jt.head_name == "张三"

    async def test_row_level_errors_and_nothing_written(
        self, routing_client: httpx.AsyncClient, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        doc = small_document()
        doc["district"]["streets"][1]["code"] = "qx-b"
        doc["departments"].append({"code": "QX-JT", "name": "重复的交通局"})
        doc["staff"].append(
            {"username": "qx_bad", "display_name": "x", "role": "liaison", "unit": "QX-A"}
        )
        doc["staff"].append(
            {"username": "qx_none", "display_name": "x", "role": "operator", "unit": "NOPE"}
        )
        doc["dispatch_rules"].append({"topic": "land", "unit": "QX-JW"})
        doc["dispatch_rules"].append({"topic": "space", "unit": "QX-JT"})
        response = await routing_client.post(IMPORT, json=doc, headers=admin_headers())
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_org_document"
        locs = {detail["loc"] for detail in error["details"]}
        # Schema errors come first (and alone): the document cannot be checked further.
        assert locs == {"district.streets[1].code", "dispatch_rules[3].topic"}
        assert await count(routing_sessionmaker, OrgUnit) == 0

        doc["district"]["streets"][1]["code"] = "QX-B"
        doc["dispatch_rules"].pop()
        response = await routing_client.post(IMPORT, json=doc, headers=admin_headers())
        assert response.status_code == 422
        details = {detail["loc"]: detail["code"] for detail in response.json()["error"]["details"]}
        assert details == {
            "departments[2].code": "duplicate_code",
            "staff[2].role": "role_unit_mismatch",
            "staff[3].unit": "unknown_unit",
            "dispatch_rules[2].unit": "invalid_unit",
        }
        assert await count(routing_sessionmaker, OrgUnit) == 0
        assert await count(routing_sessionmaker, StaffUser) == 0

    async def test_conflicts_with_the_database(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        doc = small_document()
        doc["departments"].append({"code": "HS-GM", "name": "光明路", "kind": "department"})
        response = await routing_client.post(IMPORT, json=doc, headers=org.auth("admin"))
        assert response.status_code == 422
        details = {detail["loc"]: detail["code"] for detail in response.json()["error"]["details"]}
        assert details == {
            "district.code": "district_mismatch",
            "departments[2].code": "kind_mismatch",
        }

    @pytest.mark.parametrize(
        ("content", "content_type", "status", "code"),
        [
            (b"district: [unclosed", "application/yaml", 422, "invalid_org_document"),
            (b"- just\n- a list\n", "text/yaml", 422, "invalid_org_document"),
            (b'{"district": ', "application/json", 422, "invalid_org_document"),
            (b"\xff\xfe", "application/yaml", 422, "invalid_org_document"),
            (b"a: &x [1]\nb: *x\n", "application/yaml", 422, "invalid_org_document"),
            (b"[" * 100_000, "application/yaml", 422, "invalid_org_document"),
            (
                b"district: !!python/object:os.system {}",
                "application/yaml",
                422,
                "invalid_org_document",
            ),
            (b"district: {}", "text/plain", 415, "unsupported_media_type"),
            (b"x" * (2 * 1024 * 1024 + 1), "application/yaml", 413, "document_too_large"),
        ],
    )
    async def test_unreadable_documents(
        self,
        routing_client: httpx.AsyncClient,
        content: bytes,
        content_type: str,
        status: int,
        code: str,
    ) -> None:
        response = await routing_client.post(
            IMPORT, content=content, headers=admin_headers(**{"Content-Type": content_type})
        )
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code

    async def test_yaml_syntax_error_has_a_position(
        self, routing_client: httpx.AsyncClient
    ) -> None:
        response = await routing_client.post(
            IMPORT, content=b"district:\n  code: HS\n  name: [x\n", headers=admin_headers(**YAML)
        )
        (detail,) = response.json()["error"]["details"]
        assert detail["code"] == "yaml_syntax"
        assert "line" in detail["message_en"]

    async def test_admin_only(self, routing_client: httpx.AsyncClient, org: Org) -> None:
        response = await routing_client.post(
            IMPORT,
            content=orjson.dumps(small_document()),
            headers={**org.auth("hs_dispatcher"), "Content-Type": "application/json"},
        )
        assert response.status_code == 403
