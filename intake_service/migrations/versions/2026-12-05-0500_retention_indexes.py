"""Indexes for the retention of outbox, inbox and idempotency rows (the kit's tables)

Revision ID: a7c41e9d2b01
Revises: 3c1d5e7a9b20
Create Date: 2026-12-05 05:00:00
"""

from collections.abc import Sequence

from services.kit_migrations import add_retention_indexes, drop_retention_indexes

revision: str = "a7c41e9d2b01"
down_revision: str | None = "3c1d5e7a9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_retention_indexes()


def downgrade() -> None:
    drop_retention_indexes()
