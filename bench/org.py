"""The minimum org tree the benchmarks need (the district center and the transport bureau), and
staff tokens, written straight into the routing schema."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from bench import env


@dataclass(frozen=True)
class Org:
    root_id: uuid.UUID
    unit_id: uuid.UUID  # DEPT-JT, the department every card goes to
    unit_code: str = "DEPT-JT"
    unit_name: str = "区交通运输局"


UNITS = [
    ("HS", "邯山区营商环境优化中心", "district_center", 1, None),
    ("DEPT-JT", "区交通运输局", "department", 1, "HS"),
]


async def ensure_org(connection: asyncpg.Connection) -> Org:
    ids: dict[str, uuid.UUID] = {}
    for code, name, kind, tier, parent in UNITS:
        existing = await connection.fetchval(
            "SELECT id FROM routing.org_unit WHERE code = $1", code
        )
        if existing is None:
            existing = uuid.uuid4()
            parent_path = "/" if parent is None else f"/{parent}/"
            await connection.execute(
                "INSERT INTO routing.org_unit (id, code, name, kind, tier, parent_id, path, head_name, active, "
                "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, '负责人', true, now())",
                existing,
                code,
                name,
                kind,
                tier,
                ids.get(parent) if parent else None,
                parent_path + code + "/",
            )
        ids[code] = existing
    return Org(root_id=ids["HS"], unit_id=ids["DEPT-JT"])


def staff_token(username: str, role: str, unit_code: str = "HS", unit_path: str = "/HS/") -> str:
    """A staff JWT signed with the bench's SECRET_KEY (the services verify it without a lookup)."""
    import os

    os.environ.setdefault("SECRET_KEY", env.SECRET_KEY)
    from services.auth import issue_token

    return issue_token(
        subject=username, role=role, unit_code=unit_code, unit_path=unit_path, display_name=username
    )
