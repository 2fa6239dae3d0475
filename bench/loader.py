"""Bulk loading with COPY: foreign keys and secondary indexes are dropped for the load and put
back afterwards (re-adding a foreign key validates every row, so the loaded data is proven
consistent), then the tables are vacuumed and analyzed like autovacuum would have done."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg


def qualified(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'


async def columns_of(connection: asyncpg.Connection, schema: str, table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "ORDER BY ordinal_position",
        schema,
        table,
    )
    return [r["column_name"] for r in rows]


@asynccontextmanager
async def bulk_mode(
    connection: asyncpg.Connection, schema: str, tables: Sequence[str]
) -> AsyncIterator[dict[str, float]]:
    """Drop the tables' foreign keys and non-constraint indexes; restore them on exit."""
    saved_fks: list[tuple[str, str, str]] = []
    saved_indexes: list[str] = []
    timings: dict[str, float] = {}
    for table in tables:
        regclass = qualified(schema, table)
        for row in await connection.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = $1::regclass AND contype = 'f'",
            regclass,
        ):
            saved_fks.append((regclass, row["conname"], row["def"]))
            await connection.execute(f'ALTER TABLE {regclass} DROP CONSTRAINT "{row["conname"]}"')
        for row in await connection.fetch(
            "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            regclass,
        ):
            saved_indexes.append(row["def"])
            await connection.execute(f'DROP INDEX "{schema}"."{row["name"]}"')
    try:
        yield timings
    finally:
        started = time.perf_counter()
        for definition in saved_indexes:
            await connection.execute(definition)
        timings["indexes_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        for regclass, name, definition in saved_fks:
            await connection.execute(f'ALTER TABLE {regclass} ADD CONSTRAINT "{name}" {definition}')
        timings["foreign_keys_s"] = round(time.perf_counter() - started, 2)


async def copy(
    connection: asyncpg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    records: Iterable[tuple[Any, ...]],
) -> float:
    started = time.perf_counter()
    await connection.copy_records_to_table(
        table, schema_name=schema, columns=list(columns), records=records
    )
    return time.perf_counter() - started


async def vacuum_analyze(
    connection: asyncpg.Connection, schema: str, tables: Sequence[str]
) -> float:
    started = time.perf_counter()
    for table in tables:
        await connection.execute(f"VACUUM (ANALYZE) {qualified(schema, table)}")
    return time.perf_counter() - started
