"""Async engine, sessions and the per-request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import orjson
import structlog
from fastapi import Depends, Request
from sqlalchemy import event, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from services.settings import common_settings, is_sqlite

if TYPE_CHECKING:
    from services.queue import JobRequest, QueueClient
    from services.spec import ServiceSpec

_log = structlog.get_logger(__name__)

__all__ = [
    "AsyncSessionMaker",
    "enqueue_after_commit",
    "autocommit",
    "run_after_commit",
    "SessionDep",
    "create_engine",
    "create_sessionmaker",
    "get_db_session",
    "insert_on_conflict",
    "lock_rows",
    "locked_row",
    "add_locked",
    "row_locks",
    "service_engine",
    "service_sessionmaker",
]

AsyncSessionMaker = async_sessionmaker[AsyncSession]
T = TypeVar("T")


def create_engine(
    url: str, *, schema: str, pool_size: int = 5, max_overflow: int = 0
) -> AsyncEngine:
    """Create the service's engine.

    Args:
        url: SQLAlchemy async URL (``postgresql+asyncpg://`` or ``sqlite+aiosqlite://``).
        schema: on PostgreSQL every service lives in its own schema, set as the search path so
            that models and migrations stay schema-agnostic; SQLite uses one file per service.
        pool_size: connections kept open per process.
        max_overflow: extra connections allowed under bursts (each one opened and closed again:
            under steady load that is a connection set up per few requests).
    """
    if is_sqlite(url):
        engine = _create_async_engine(url, **_JSON_CODECS, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return _create_async_engine(
        url,
        **_JSON_CODECS,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=common_settings().db_pool_pre_ping,
        pool_timeout=10,
        connect_args={
            "server_settings": {
                "search_path": schema,
                "jit": "on" if common_settings().db_jit else "off",
            },
            "timeout": 5,
        },
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (outbox envelopes, webhook payloads, history data) without the standard
# library's slower encoder; same compact text, UUIDs and datetimes understood.
_JSON_CODECS: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def row_locks(session: AsyncSession) -> bool:
    """Whether the session's database has row locks (``FOR UPDATE``, ``SKIP LOCKED``):
    PostgreSQL does; SQLite serialises writers and has none."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


@asynccontextmanager
async def autocommit(sessionmaker: AsyncSessionMaker) -> AsyncIterator[AsyncConnection]:
    """A connection on which every statement commits by itself: a change made in one statement
    costs one round trip instead of BEGIN, the statement and COMMIT."""
    async with sessionmaker() as session:
        yield await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


LOCKED_ROWS = "locked_rows"


async def lock_rows(
    session: AsyncSession, model: Any, keys: Iterable[Any], *, by: Any = None
) -> None:
    """Read and lock (PostgreSQL) the rows of ``model`` with these keys in one statement, in key
    order (so transactions locking overlapping sets cannot deadlock); :func:`locked_row` then
    answers for them without a query, a missing row included.

    ``by``: a unique column to look the rows up by, instead of the primary key.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return
    column = _key_column(model, by)
    stmt = select(model).where(column.in_(wanted)).order_by(column)
    if row_locks(session):
        stmt = stmt.with_for_update()
    found = {getattr(row, column.key): row for row in await session.scalars(stmt)}
    known: dict[tuple[Any, str, Any], Any] = session.info.setdefault(LOCKED_ROWS, {})
    known.update({(model, column.key, key): found.get(key) for key in wanted})


async def locked_row(
    session: AsyncSession, model: type[T], key: Any, *, by: Any = None
) -> T | None:
    """The row of ``model`` with this key (primary key, or the unique column ``by``), locked
    for the transaction on PostgreSQL: from :func:`lock_rows` when a group read it already,
    else read (and locked) now."""
    column = _key_column(model, by)
    known: dict[tuple[Any, str, Any], Any] = session.info.get(LOCKED_ROWS, {})
    if (model, column.key, key) in known:
        return cast("T | None", known[(model, column.key, key)])
    locking = row_locks(session) or None
    if by is None:
        return await session.get(model, key, with_for_update=locking)
    stmt = select(model).where(column == key)
    return await session.scalar(stmt.with_for_update() if locking else stmt)


def add_locked(session: AsyncSession, row: Any, key: Any, *, by: Any = None) -> None:
    """Add a new row and answer :func:`locked_row` with it for the rest of the transaction
    (a later event of the same group about the same key updates it instead of inserting)."""
    session.add(row)
    column = _key_column(type(row), by)
    session.info.setdefault(LOCKED_ROWS, {})[(type(row), column.key, key)] = row


def _key_column(model: Any, by: Any) -> Any:
    if by is not None:
        return by
    (primary_key,) = sa_inspect(model).primary_key
    return primary_key


def insert_on_conflict(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` with ``ON CONFLICT`` clauses, in the session's dialect (PostgreSQL or SQLite)."""
    return postgresql.insert(table) if row_locks(session) else sqlite.insert(table)


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


def service_engine(spec: ServiceSpec) -> AsyncEngine:
    """The engine of one service's API or worker process, sized by its pool settings."""
    settings = spec.settings
    return create_engine(
        settings.resolved_database_url(),
        schema=spec.name,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )


def service_sessionmaker(spec: ServiceSpec, engine: AsyncEngine) -> AsyncSessionMaker:
    """Sessions that know the service's name and outbox table (``add_event`` writes there)."""
    maker = create_sessionmaker(engine)
    maker.configure(info={"outbox_model": spec.outbox_model, "service_name": spec.name})
    return maker


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the endpoint succeeds, rolled back otherwise.

    After the commit, events written to the outbox in this transaction are pushed to the queue
    at once (the relay covers the case where that push fails).
    """
    sessionmaker: AsyncSessionMaker = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            discard_after_commit(session)
            raise
        else:
            await session.commit()
            await run_after_commit(session, request.app.state.queue)


AFTER_COMMIT_JOBS = "after_commit_jobs"


def enqueue_after_commit(session: AsyncSession, jobs: Sequence[JobRequest]) -> None:
    """Push ``jobs`` once this session's transaction has committed, in the same round trip as
    its outbox events (dropped on rollback). For work whose rows are their own outbox, such as
    webhook deliveries: a sweep finds what a failed push left behind."""
    session.info.setdefault(AFTER_COMMIT_JOBS, []).extend(jobs)


async def run_after_commit(session: AsyncSession, queue: QueueClient | None) -> None:
    """Fast path after a commit: push the transaction's outbox events and the jobs it asked for
    in one pipeline.

    Failures here never undo the commit; relays and sweeps pick up whatever was missed.
    """
    from services.outbox import committed_jobs
    from services.queue import RedisError, enqueue_many

    jobs = [*committed_jobs(session), *session.info.pop(AFTER_COMMIT_JOBS, [])]
    if not jobs or queue is None or not queue.available:
        return
    try:
        await enqueue_many(queue.redis, jobs)
    except (RedisError, OSError) as exc:
        queue.trip()
        _log.warning("after_commit.push_failed", error=str(exc)[:300], jobs=len(jobs))


def discard_after_commit(session: AsyncSession) -> None:
    session.info.pop(AFTER_COMMIT_JOBS, None)


SessionDep = Annotated[AsyncSession, Depends(get_db_session, scope="function")]
