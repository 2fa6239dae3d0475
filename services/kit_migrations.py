"""Schema changes to the kit's own tables (outbox, inbox, idempotency records), which every
service has: each service's alembic history calls these from its own revision, so the three
histories stay in step without three copies of the change.

A function here is a migration: once released it is never edited; a later change to the kit's
tables gets a new pair of functions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["add_retention_indexes", "drop_retention_indexes"]


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
