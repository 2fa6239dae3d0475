"""ORM building blocks shared by the services: base class factory, column types, kit tables.

Each service declares its own ``Model`` (own metadata, own alembic history) from
:func:`make_model_base`, and mixes the kit tables (outbox, inbox, idempotency, API keys) into it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import JSON, DateTime, Index, Integer, MetaData, String, Text, TypeDecorator, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from services.crypto import SealedJSON

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so naive UTC is stored there.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


_New = TypeVar("_New")


def with_defaults(instance: _New) -> _New:
    """A new ORM object with the column defaults its INSERT would apply, set now.

    Code that reads a new row's defaulted fields (an event snapshot, a history entry) would
    otherwise need a flush first: one more round trip per row instead of one for the whole
    transaction at commit. Only Python-side defaults are filled; values already given stay.
    """
    given = vars(instance)
    for prop in sa_inspect(type(instance)).column_attrs:
        default = prop.columns[0].default
        if prop.key in given or default is None:
            continue
        if default.is_scalar:
            setattr(instance, prop.key, default.arg)
        elif default.is_callable:
            setattr(instance, prop.key, default.arg(None))  # SQLAlchemy's wrapper takes a context
    return instance


class KitTable:
    """Base of the kit's table mixins: tells the type checker they take column keywords (the
    constructor itself comes from the service's declarative base)."""

    if TYPE_CHECKING:

        def __init__(self, **kwargs: Any) -> None: ...


class OutboxEventMixin(KitTable):
    """One row per event and destination queue, written in the producer's transaction.

    ``pushed_at`` is set when the job was handed to Redis; ``confirmed_at`` once the relay saw
    the consumer's job finish. Unconfirmed rows are re-pushed when Redis lost them.
    """

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    queue: Mapped[str] = mapped_column(String(32), nullable=False)
    # Sealed (SM4, services.crypto): events carry submitters' names and phones.
    envelope: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("outbox_event.envelope"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            Index("uq_outbox_event_event_id_queue", "event_id", "queue", unique=True),
            # The relay only ever looks at unconfirmed rows: keep that index tiny.
            Index(
                "ix_outbox_event_unconfirmed",
                "id",
                postgresql_where=text("confirmed_at IS NULL"),
                sqlite_where=text("confirmed_at IS NULL"),
            ),
            # Retention deletes confirmed rows by age (services/retention.py).
            Index(
                "ix_outbox_event_confirmed_at",
                "confirmed_at",
                postgresql_where=text("confirmed_at IS NOT NULL"),
                sqlite_where=text("confirmed_at IS NOT NULL"),
            ),
        )


class InboxEventMixin(KitTable):
    """Event ids a consumer has applied, recorded in the same transaction as the effect."""

    __tablename__ = "inbox_event"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (Index("ix_inbox_event_handled_at", "handled_at"),)  # retention, by age


class IdempotencyRecordMixin(KitTable):
    """The first answer to a write sent with an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_record"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    # Sealed: a submission's answer carries its tracking secret.
    response_body: Mapped[Any] = mapped_column(
        SealedJSON("idempotency_record.response_body"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (Index("ix_idempotency_record_created_at", "created_at"),)  # retention, by age


class ApiKeyMixin(KitTable):
    """A client credential: only a hash is stored; the key itself is shown once."""

    __tablename__ = "api_key"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    scope: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


__all__ = [
    "NAMING_CONVENTION",
    "ApiKeyMixin",
    "IdempotencyRecordMixin",
    "InboxEventMixin",
    "JSONType",
    "OutboxEventMixin",
    "UTCDateTime",
    "make_metadata",
    "utcnow",
    "with_defaults",
]
