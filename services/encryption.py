"""The background encryption: seals rows written before field encryption, re-wraps values under
a retired key after a rotation, and checks at start-up that the keys open what is stored.

Every model column of type ``SealedText``/``SealedJSON`` takes part (found in the service's
metadata, so a new sealed column needs no registration). A row is due when a sealing column
still holds plaintext, or any sealed column names a key that is not its ring's active one, or
its model's ``sealing_due()`` says so (a confidential report's text, plain before). Rows are
taken in primary-key order, in batches, each batch its own short transaction, for at most
``RUN_SECONDS`` per run: the sweep is resumable by construction (a row done no longer matches)
and never holds a table. The API keeps serving meanwhile: a plaintext value loads as it is.

A value under an unknown key id, or one that fails authentication, is counted and logged with
its table and key id (``encryption.unreadable``) and left as it is, never rewritten or dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy import ColumnElement, Text, and_, false, inspect, or_, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import flag_modified

from services.crypto import (
    PREFIX,
    Keys,
    Sealed,
    SealedJSON,
    SealedText,
    TamperedValue,
    UnknownKeyId,
    keys,
    rewrap,
    unseal,
)
from services.db import AsyncSessionMaker
from services.spec import ServiceSpec

__all__ = [
    "SealingModel",
    "check_keys_at_start",
    "SweepCounts",
    "sealed_columns",
    "service_models",
    "sweep",
    "verify_keys",
]

log = structlog.get_logger(__name__)

BATCH = 500
RUN_SECONDS = 20.0


class SealingModel(Protocol):
    """What a model adds when sealing depends on the row (which ring, whether a plain-by-default
    column is sealed): ``sealing_due`` finds its rows in SQL, ``reseal`` wraps its values."""

    @classmethod
    def sealing_due(cls) -> ColumnElement[bool]: ...

    def reseal(self) -> None: ...


@dataclass(frozen=True)
class SealedColumn:
    key: str  # the mapped attribute
    column: Any
    label: str
    seals_by_default: bool


@dataclass
class SweepCounts:
    sealed: int = 0
    unreadable: int = 0
    tables: dict[str, int] = field(default_factory=dict)


def sealed_columns(mapper: Mapper[Any]) -> list[SealedColumn]:
    found = []
    for attribute in mapper.column_attrs:
        for column in attribute.columns:
            kind = column.type
            if isinstance(kind, SealedJSON):
                found.append(SealedColumn(attribute.key, column, kind.label, True))
            elif isinstance(kind, SealedText):
                found.append(
                    SealedColumn(attribute.key, column, kind.label, kind.default == "seal")
                )
    return found


def _models(metadata_models: Sequence[type[Any]]) -> Iterator[tuple[type[Any], list[SealedColumn]]]:
    for model in metadata_models:
        columns = sealed_columns(inspect(model))
        if columns:
            yield model, columns


def _raw(column: Any) -> ColumnElement[str]:
    # The stored text itself: comparing through the column's type would seal the pattern.
    return type_coerce(column, Text())


def _due(model: type[Any], columns: list[SealedColumn], ring_keys: Keys) -> ColumnElement[bool]:
    current = (
        f"{PREFIX}p${ring_keys.personal.active}$%",
        f"{PREFIX}c${ring_keys.confidential.active}$%",
    )
    conditions: list[ColumnElement[bool]] = []
    for sealed in columns:
        raw = _raw(sealed.column)
        if sealed.seals_by_default:
            conditions.append(and_(raw.is_not(None), raw.not_like(f"{PREFIX}%")))
        conditions.append(
            and_(raw.like(f"{PREFIX}%"), raw.not_like(current[0]), raw.not_like(current[1]))
        )
    if hasattr(model, "sealing_due"):
        conditions.append(model.sealing_due())
    return or_(*conditions) if conditions else false()


def _reseal(row: Any, columns: list[SealedColumn]) -> None:
    if hasattr(row, "reseal"):
        row.reseal()  # the model wraps values whose ring depends on the row
    for sealed in columns:
        value = getattr(row, sealed.key)
        if value is None:
            continue
        if isinstance(value, Sealed):
            # A confidential value: only its data key is re-wrapped; it is never opened here.
            setattr(row, sealed.key, Sealed(rewrap(value.token, sealed.label)))
        flag_modified(row, sealed.key)


def service_models(spec: ServiceSpec) -> list[type[Any]]:
    """Every model mapped on the service's metadata (its own tables and its kit tables)."""
    registry = spec.outbox_model.registry  # type: ignore[attr-defined]
    return [
        mapper.class_
        for mapper in registry.mappers
        if getattr(mapper.local_table, "metadata", None) is spec.metadata
    ]


async def sweep(
    sessionmaker: AsyncSessionMaker,
    models: Sequence[type[Any]],
    *,
    run_seconds: float = RUN_SECONDS,
    batch: int = BATCH,
) -> SweepCounts:
    """Seal and re-wrap what is due in ``models``, within ``run_seconds``."""
    counts = SweepCounts()
    ring_keys = keys()
    deadline = time.monotonic() + run_seconds
    for model, columns in _models(models):
        primary = inspect(model).primary_key
        if len(primary) != 1:
            continue
        pk = primary[0]
        last: Any = None
        while True:  # at least one batch per table and run, however short the run
            due = select(pk).where(_due(model, columns, ring_keys)).order_by(pk).limit(batch)
            if last is not None:
                due = due.where(pk > last)
            async with sessionmaker() as session:
                ids = (await session.scalars(due)).all()
                if not ids:
                    break
                rows = await _readable_rows(session, model, ids, counts)
                for row in rows:
                    _reseal(row, columns)
                await session.commit()
            last = ids[-1]
            counts.sealed += len(rows)
            name = model.__tablename__
            counts.tables[name] = counts.tables.get(name, 0) + len(rows)
            if len(ids) < batch or time.monotonic() >= deadline:
                break
    if counts.sealed or counts.unreadable:
        log.info(
            "encryption.swept", sealed=counts.sealed, unreadable=counts.unreadable, **counts.tables
        )
    return counts


async def _readable_rows(
    session: AsyncSession, model: type[Any], ids: Sequence[Any], counts: SweepCounts
) -> list[Any]:
    """The batch's rows; one that does not open is reported and left as it is."""
    pk = inspect(model).primary_key[0]
    try:
        return list((await session.scalars(select(model).where(pk.in_(ids)).order_by(pk))).all())
    except (UnknownKeyId, TamperedValue):
        session.expunge_all()
    rows = []
    for row_id in ids:
        try:
            rows.append((await session.scalars(select(model).where(pk == row_id))).one())
        except (UnknownKeyId, TamperedValue) as error:
            counts.unreadable += 1
            log.error(
                "encryption.unreadable",
                table=model.__tablename__,
                row=str(row_id),
                kid=getattr(error, "kid", None),
                error=str(error),
            )
    return rows


async def verify_keys(
    session: AsyncSession, models: Sequence[type[Any]], sample: int = 1000
) -> None:
    """Open the newest sealed value of every sealed column: a key missing from the ring, or a
    different key under a known id, refuses the start instead of failing reads later (or, worse,
    sealing new values under a key nothing else can open)."""
    for model, columns in _models(models):
        pk = inspect(model).primary_key[0]
        recent = select(pk).order_by(pk.desc()).limit(sample).scalar_subquery()
        for sealed in columns:
            raw = _raw(sealed.column)
            token = await session.scalar(
                select(raw)
                .where(pk.in_(recent), raw.like(f"{PREFIX}%"))
                .order_by(pk.desc())
                .limit(1)
            )
            if token is None:
                continue
            try:
                unseal(Sealed(token), sealed.label)
            except UnknownKeyId as error:
                raise RuntimeError(
                    f"{sealed.label} holds values sealed under {error.ring} key id {error.kid!r}, "
                    "which the configured keys do not contain: add it back to "
                    f"{'DATA_KEYS' if error.ring == 'personal' else 'CONFIDENTIAL_KEYS'}"
                ) from error
            except TamperedValue as error:
                raise RuntimeError(
                    f"{sealed.label}: the configured key does not open the stored values "
                    "(a wrong key under a known id, or altered data)"
                ) from error


async def check_keys_at_start(sessionmaker: AsyncSessionMaker, spec: ServiceSpec) -> None:
    """:func:`verify_keys` for an API or worker starting: wrong keys refuse the start; a
    database not up yet is readiness's business, not a reason to refuse."""
    try:
        async with sessionmaker() as session:
            await verify_keys(session, service_models(spec))
    except (OSError, SQLAlchemyError) as error:
        log.warning("encryption.keys_unchecked", error=str(error)[:200])
