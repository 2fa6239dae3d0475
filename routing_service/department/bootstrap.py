"""First start of an embedded installation: the seed district's org tree and an admin login."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import func, select

from routing_service.department import schemas
from routing_service.department.loader import import_document, parse_document, seed_document
from routing_service.models import OrgUnit
from routing_service.spec import spec
from services.db import create_engine, create_sessionmaker
from shared.enums import Role


async def _bootstrap(url: str) -> dict[str, str] | None:
    engine = create_engine(url, schema=spec.name, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            if await session.scalar(select(func.count()).select_from(OrgUnit)):
                return None  # not a fresh installation: never touch its org or accounts
            doc = parse_document(seed_document(), "application/yaml")
            password = secrets.token_urlsafe(12)
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
            from routing_service.project.service import catalogue_service

            await catalogue_service.seed(session)  # the default 事项目录, on the seeded org
            await session.commit()
            return {"username": "admin", "password": password}
    finally:
        await engine.dispose()


def bootstrap(url: str | None = None) -> dict[str, str] | None:
    """Load the seed org tree and create an admin on an empty routing database.

    Returns the admin's credentials when it created them, else None.
    """
    return asyncio.run(_bootstrap(url or spec.settings.resolved_database_url()))
