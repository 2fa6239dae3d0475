"""Async engine, sessions and the per-request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from services.settings import is_sqlite

__all__ = [
    "AsyncSessionMaker",
    "SessionDep",
    "create_engine",
    "create_sessionmaker",
    "get_db_session",
]

AsyncSessionMaker = async_sessionmaker[AsyncSession]


def create_engine(
    url: str, *, schema: str, pool_size: int = 10, max_overflow: int = 20
) -> AsyncEngine:
    """Create the service's engine.

    Args:
        url: SQLAlchemy async URL (``postgresql+asyncpg://`` or ``sqlite+aiosqlite://``).
        schema: on PostgreSQL every service lives in its own schema, set as the search path so
            that models and migrations stay schema-agnostic; SQLite uses one file per service.
        pool_size: connections kept open per process.
        max_overflow: extra connections allowed under bursts.
    """
    if is_sqlite(url):
        engine = _create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return _create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"server_settings": {"search_path": schema}, "timeout": 5},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API and the worker read while the other writes; the busy timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> AsyncSessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the endpoint succeeds, rolled back otherwise.

    After the commit, events written to the outbox in this transaction are pushed to the queue
    at once (the relay covers the case where that push fails).
    """
    from services.outbox import publish_committed

    sessionmaker: AsyncSessionMaker = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
            await publish_committed(session, request.app.state.queue)


SessionDep = Annotated[AsyncSession, Depends(get_db_session, scope="function")]
