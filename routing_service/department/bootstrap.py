"""First start of an embedded installation: the seed district's org tree and an admin login."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import func, select, update

from routing_service.department import schemas
from routing_service.department.loader import import_document, parse_document, seed_document
from routing_service.department.passwords import password_problem
from routing_service.models import OrgUnit, StaffUser
from routing_service.spec import spec
from services.db import create_engine, create_sessionmaker
from shared.enums import Role


def _initial_password(username: str) -> str:
    # 20 random URL-safe characters pass the policy but for a freak draw: draw again then.
    while True:
        password = secrets.token_urlsafe(15)
        if password_problem(password, username) is None:
            return password


async def _bootstrap(url: str) -> dict[str, str] | None:
    engine = create_engine(url, schema=spec.name, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            if await session.scalar(select(func.count()).select_from(OrgUnit)):
                return None  # not a fresh installation: never touch its org or accounts
            doc = parse_document(seed_document(), "application/yaml")
            password = _initial_password("admin")
            doc.staff.append(
                schemas.StaffDoc(
                    username="admin",
                    display_name="系统管理员",
                    role=Role.admin,
                    unit="HS",
                    password=password,
                )
            )
            await import_document(session, doc)
            # Printed once to whoever installs: in production it must be replaced at first use.
            await session.execute(
                update(StaffUser)
                .where(StaffUser.username == "admin")
                .values(must_change_password=True)
            )
            from routing_service.project.service import catalogue_service

            await catalogue_service.seed(session)  # the default 事项目录, on the seeded org
            await session.commit()
            return {"username": "admin", "password": password}
    finally:
        await engine.dispose()


def bootstrap(url: str | None = None) -> dict[str, str] | None:
    """Load the seed org tree and create an admin on an empty routing database.

    Returns the admin's credentials when it created them, else None. The admin must change
    the password at the first sign-in (enforced in production).
    """
    return asyncio.run(_bootstrap(url or spec.settings.resolved_database_url()))
