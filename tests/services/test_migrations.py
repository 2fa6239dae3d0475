"""Every service's alembic history: matches its models, goes down and up again, runs on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
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


@asynccontextmanager
async def scratch_database(suffix: str) -> AsyncIterator[str]:
    """A database of its own for one migration test (its name), dropped afterwards."""
    name = f"{RUN_DATABASE_URL.rsplit('/', 1)[1]}_mig_{suffix}"
    admin = await asyncpg.connect(
        ADMIN_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def intake_at(revision: str, suffix: str) -> AsyncIterator[tuple[Config, asyncpg.Connection]]:
    """Intake's schema in a scratch database, migrated to ``revision``: its alembic config
    (to go on from there) and a connection to put rows in."""
    spec = next(s for s in SPECS if s.name == "intake")
    async with scratch_database(suffix) as name:
        url = normalize_database_url(with_database(ADMIN_DATABASE_URL, name))
        config = alembic_config(spec, url)
        await asyncio.to_thread(command.upgrade, config, revision)
        database = await asyncpg.connect(with_database(ADMIN_DATABASE_URL, name).replace(
            "postgresql+asyncpg://", "postgresql://"))  # fmt: skip
        try:
            yield config, database
        finally:
            await database.close()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
async def test_downgrade_to_base_and_back(spec) -> None:  # type: ignore[no-untyped-def]
    async with scratch_database(spec.name) as name:
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


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_migrations_run_on_sqlite(spec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    upgrade(spec, f"sqlite+aiosqlite:///{tmp_path / (spec.name + '.db')}")


async def test_search_grams_are_retagged_by_field_on_upgrade() -> None:
    """Requests indexed before the relevance tiers get tier-tagged bigrams from the upgrade; a
    whistleblower's enterprise stays out; the downgrade restores the plain bigrams."""
    async with intake_at("4e6a8c0b2d91", "grams") as (config, database):
        for tracking_no, confidential in (("YS1", False), ("YS2", True)):
            await database.execute(
                "INSERT INTO intake.issue (id, tracking_no, tracking_secret_hash, channel, "
                "type, topic, topic_suggested, topic_confidence, urgency, title, description, "
                "address, submitter_kind, enterprise_name, anonymous, confidential, status, "
                "expected_provisional, received_at, updated_at, search_grams) VALUES "
                "(gen_random_uuid(), $1, 'x', 'app', 'report', 'other', false, 0, 'normal', "
                "'停水', '三天停水', '光明路', 'enterprise', '恒达制药', false, $2, 'received', "
                "false, now(), now(), ARRAY['停水'])",
                tracking_no, confidential,
            )  # fmt: skip
        await asyncio.to_thread(command.upgrade, config, "head")
        grams = dict(await database.fetch(
            "SELECT tracking_no, search_grams FROM intake.issue ORDER BY tracking_no"))  # fmt: skip
        assert grams["YS1"] == sorted(["0停水", "1ys", "1s1", "1恒达", "1达制", "1制药",
                                       "2光明", "2明路", "3三天", "3天停", "3停水"])  # fmt: skip
        assert "1恒达" not in grams["YS2"]
        assert "1ys" in grams["YS2"]
        await asyncio.to_thread(command.downgrade, config, "4e6a8c0b2d91")
        plain = await database.fetchval("SELECT search_grams FROM intake.issue WHERE "
                                        "tracking_no = 'YS1'")  # fmt: skip
        assert "停水" in plain
        assert not any(g[0].isdigit() for g in plain)


async def test_closed_requests_without_a_status_time_get_one_for_retention() -> None:
    """Closed requests from before ``status_changed_at`` get their last update as that time,
    so retention reaches them; open ones keep NULL (a later change is compared with it)."""
    async with intake_at("7e2b5d9c4a31", "status_time") as (config, database):
        for tracking_no, status in (("YS1", "closed"), ("YS2", "received")):
            await database.execute(
                "INSERT INTO intake.issue (id, tracking_no, tracking_secret_hash, channel, "
                "type, topic, topic_suggested, topic_confidence, urgency, title, description, "
                "submitter_kind, anonymous, confidential, status, expected_provisional, "
                "received_at, updated_at) VALUES (gen_random_uuid(), $1, 'x', 'app', "
                "'complaint', 'other', false, 0, 'normal', '停水', '三天停水', 'person', "
                "false, false, $2, false, now() - interval '3 years', "
                "now() - interval '2 years')",
                tracking_no, status,
            )  # fmt: skip
        await asyncio.to_thread(command.upgrade, config, "head")
        rows = {
            row["tracking_no"]: row
            for row in await database.fetch(
                "SELECT tracking_no, status_changed_at, updated_at FROM intake.issue"
            )
        }
        assert rows["YS1"]["status_changed_at"] == rows["YS1"]["updated_at"]
        assert rows["YS2"]["status_changed_at"] is None
