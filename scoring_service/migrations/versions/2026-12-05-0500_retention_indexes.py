"""Indexes for the retention of outbox, inbox and idempotency rows

Revision ID: c9e63a0b4d23
Revises: 73fecd7acba0
Create Date: 2026-12-05 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c9e63a0b4d23"
down_revision: str | None = "73fecd7acba0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # services/retention.py deletes bookkeeping by age; without these it would scan the tables.
    op.create_index(
        "ix_outbox_event_confirmed_at",
        "outbox_event",
        ["confirmed_at"],
        postgresql_where=sa.text("confirmed_at IS NOT NULL"),
        sqlite_where=sa.text("confirmed_at IS NOT NULL"),
    )
    op.create_index("ix_inbox_event_handled_at", "inbox_event", ["handled_at"])
    op.create_index("ix_idempotency_record_created_at", "idempotency_record", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_record_created_at", table_name="idempotency_record")
    op.drop_index("ix_inbox_event_handled_at", table_name="inbox_event")
    op.drop_index("ix_outbox_event_confirmed_at", table_name="outbox_event")
