"""Every service's alembic history: matches its models, goes down and up again, runs on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from services.db import create_engine
from services.migrations import alembic_config, upgrade
from services.registry import available_specs
from services.settings import normalize_database_url
from tests.fixtures.environment import ADMIN_DATABASE_URL, RUN_DATABASE_URL, with_database

SPECS = available_specs()


def test_all_three_services_exist() -> None:
    assert [spec.name for spec in SPECS] == ["intake", "routing", "scoring"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
async def test_models_match_the_migrations(spec, test_database: str) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(test_database, schema=spec.name, pool_size=1)
    try:
        async with engine.connect() as connection:

            def diff(sync_connection):  # type: ignore[no-untyped-def]
                context = MigrationContext.configure(
                    sync_connection,
                    opts={
                        "include_name": lambda name, type_, _p: (
                            not (type_ == "table" and name == "alembic_version")
                        )
                    },
                )
                return compare_metadata(context, spec.metadata)

            assert await connection.run_sync(diff) == []
    finally:
        await engine.dispose()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
async def test_downgrade_to_base_and_back(spec) -> None:  # type: ignore[no-untyped-def]
    name = f"{RUN_DATABASE_URL.rsplit('/', 1)[1]}_mig_{spec.name}"
    admin = await asyncpg.connect(
        ADMIN_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = normalize_database_url(with_database(ADMIN_DATABASE_URL, name))
        config = alembic_config(spec, url)
        await asyncio.to_thread(command.upgrade, config, "head")
        await asyncio.to_thread(command.downgrade, config, "base")
        engine = create_engine(url, schema=spec.name, pool_size=1)
        async with engine.connect() as connection:
            left = (await connection.execute(text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"), {"s": spec.name})).scalar()  # fmt: skip
        await engine.dispose()
        assert left == 0
        await asyncio.to_thread(command.upgrade, config, "head")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_migrations_run_on_sqlite(spec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    upgrade(spec, f"sqlite+aiosqlite:///{tmp_path / (spec.name + '.db')}")
