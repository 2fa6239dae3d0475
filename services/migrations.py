"""Alembic glue: one history per service, each in its own PostgreSQL schema (or SQLite file)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from services.db import create_engine
from services.settings import is_sqlite
from services.spec import ServiceSpec

__all__ = ["alembic_config", "run_env", "upgrade", "upgrade_async"]


def alembic_config(spec: ServiceSpec, url: str | None = None) -> Config:
    config = Config(str(spec.alembic_ini))
    config.set_main_option("script_location", str(spec.package_dir / "migrations"))
    config.attributes["url"] = url or spec.settings.resolved_database_url()
    config.attributes["schema"] = spec.name
    return config


def upgrade(spec: ServiceSpec, url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(spec, url), revision)


async def upgrade_async(spec: ServiceSpec, url: str | None = None) -> None:
    """Run from async code (alembic's env.py starts its own event loop)."""
    await asyncio.to_thread(upgrade, spec, url)


def run_env(context: Any, spec: ServiceSpec) -> None:
    """The body of every service's ``migrations/env.py``.

    Args:
        context: ``alembic.context`` (a proxy module for the running EnvironmentContext).
        spec: the service whose history runs.
    """
    config = context.config
    url: str = config.attributes.get("url") or spec.settings.resolved_database_url()
    schema: str = config.attributes.get("schema") or spec.name
    options: dict[str, Any] = {
        "target_metadata": spec.metadata,
        "compare_type": True,
        "render_as_batch": is_sqlite(url),
        # With the search path set to the service's schema, autogenerate would otherwise see
        # alembic's own version table as an unknown table and drop it.
        "include_name": lambda name, type_, _parent: (
            not (type_ == "table" and name == "alembic_version")
        ),
    }
    if not is_sqlite(url):
        options["version_table_schema"] = schema

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run_sync(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            connection.execute(text(f'SET search_path TO "{schema}"'))
            connection.commit()
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_engine(url, schema=schema, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run_sync)
        finally:
            await engine.dispose()

    asyncio.run(run_async())
