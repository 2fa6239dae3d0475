"""Indexes for the retention of outbox, inbox and idempotency rows (the kit's tables)

Revision ID: c9e63a0b4d23
Revises: 73fecd7acba0
Create Date: 2026-12-05 05:00:00
"""

from collections.abc import Sequence

from services.kit_migrations import add_retention_indexes, drop_retention_indexes

revision: str = "c9e63a0b4d23"
down_revision: str | None = "73fecd7acba0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_retention_indexes()


def downgrade() -> None:
    drop_retention_indexes()
