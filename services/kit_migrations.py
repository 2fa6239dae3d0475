"""Schema changes to the kit's own tables (outbox, inbox, idempotency records), which every
service has: each service's alembic history calls these from its own revision, so the three
histories stay in step without three copies of the change.

A function here is a migration: once released it is never edited; a later change to the kit's
tables gets a new pair of functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.search

__all__ = [
    "add_retention_indexes",
    "json_columns_to_sealed_text",
    "sealed_text_columns_to_json",
    "drop_retention_indexes",
    "rewrite_search_grams",
    "set_gram_statistics",
]


def add_retention_indexes() -> None:
    """2026-12: indexes by age for services/retention.py (without them it would scan)."""
    op.create_index(
        "ix_outbox_event_confirmed_at",
        "outbox_event",
        ["confirmed_at"],
        postgresql_where=sa.text("confirmed_at IS NOT NULL"),
        sqlite_where=sa.text("confirmed_at IS NOT NULL"),
    )
    op.create_index("ix_inbox_event_handled_at", "inbox_event", ["handled_at"])
    op.create_index("ix_idempotency_record_created_at", "idempotency_record", ["created_at"])


def drop_retention_indexes() -> None:
    op.drop_index("ix_idempotency_record_created_at", table_name="idempotency_record")
    op.drop_index("ix_inbox_event_handled_at", table_name="inbox_event")
    op.drop_index("ix_outbox_event_confirmed_at", table_name="outbox_event")


def rewrite_search_grams(
    table: str,
    tiers: Sequence[Sequence[str]],
    *,
    tagged: bool,
    protected_by: Sequence[str] = (),
    withheld: str | None = None,
    batch: int = 1000,
) -> None:
    """2026-12: every row's ``search_grams`` again, in batches by id, from the columns named in
    ``tiers`` (best first): tagged by tier (``services.search.field_grams``) or, to go back,
    plain (``grams``). ``withheld`` is left out of rows where any ``protected_by`` column is
    true (a whistleblower's enterprise). Only PostgreSQL stores bigrams."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    names = {name for tier in tiers for name in tier}
    rows_of = sa.table(
        table,
        sa.column("id", sa.Uuid()),
        *(sa.column(name, sa.Text()) for name in sorted(names)),
        *(sa.column(name, sa.Boolean()) for name in protected_by),
        sa.column("search_grams", services.search.GramArray()),
    )
    last = None
    while True:
        stmt = sa.select(rows_of).order_by(rows_of.c.id).limit(batch)
        if last is not None:
            stmt = stmt.where(rows_of.c.id > last)
        rows = bind.execute(stmt).all()
        if not rows:
            return
        for row in rows:
            hidden = withheld if any(getattr(row, name) for name in protected_by) else None
            fields = [[None if n == hidden else getattr(row, n) for n in tier] for tier in tiers]
            values = (
                services.search.field_grams(*fields)
                if tagged
                else services.search.grams(*(text for tier in fields for text in tier))
            )
            bind.execute(rows_of.update().where(rows_of.c.id == row.id).values(search_grams=values))
        last = rows[-1].id


def set_gram_statistics(table: str, target: int) -> None:
    """2026-12: the statistics target of ``search_grams`` (-1: the server's default). At the
    default (100) ANALYZE samples 30,000 rows, and every bigram it did not meet is estimated at
    0.25 % of the table, so a bigram in no title at all looks common enough to walk the newest
    rows for (3 s at a million requests); at 1,000 it samples 300,000 and rare stays rare."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN search_grams SET STATISTICS {int(target)}')


_KIT_PAYLOADS = (("outbox_event", "envelope", False), ("idempotency_record", "response_body", True))


def json_columns_to_sealed_text(
    columns: Sequence[tuple[str, str, bool]] = _KIT_PAYLOADS,
) -> None:
    """2026-12: JSON columns that carry personal data become TEXT, to hold SM4-sealed documents
    (services.crypto.SealedJSON). Existing rows keep their JSON text and load as before; the
    background encryption (services/encryption.py) seals them. Default: the kit's outbox
    envelopes (events carry submitters) and idempotency answers (receipts carry secrets)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, nullable in columns:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.Text(),
                existing_type=sa.JSON(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::text" if postgres else None,
            )


def sealed_text_columns_to_json(
    columns: Sequence[tuple[str, str, bool]] = _KIT_PAYLOADS,
) -> None:
    """Undo :func:`json_columns_to_sealed_text`; refuses while sealed values remain (they are not
    JSON)."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for table, column, nullable in columns:
        sealed = bind.execute(
            sa.text(f'SELECT count(*) FROM "{table}" WHERE "{column}" LIKE \'ys1$%\'')
        ).scalar()
        if sealed:
            raise RuntimeError(
                f"{table}.{column} still holds {sealed} sealed values: open them first"
            )
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=postgresql.JSONB() if postgres else sa.JSON(),
                existing_type=sa.Text(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::jsonb" if postgres else None,
            )
