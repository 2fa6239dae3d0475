"""Indexes for the retention of outbox, inbox and idempotency rows (the kit's tables)

Revision ID: b8d52fae3c12
Revises: 5d4f39d2bf8e
Create Date: 2026-12-05 05:00:00
"""

from collections.abc import Sequence

from services.kit_migrations import add_retention_indexes, drop_retention_indexes

revision: str = "b8d52fae3c12"
down_revision: str | None = "5d4f39d2bf8e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_retention_indexes()


def downgrade() -> None:
    drop_retention_indexes()
