"""Closed requests written before ``status_changed_at`` existed get their last update time as
the time of their last status change, so the retention job (``retention_candidates``, which
reads the partial index on that column) reaches them too instead of keeping their personal
data forever. Only closed requests: closed is final, so no later status change is compared
with the time filled in here.

Revision ID: 8a4c6e0b2d53
Revises: 7e2b5d9c4a31
Create Date: 2026-12-11 09:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8a4c6e0b2d53"
down_revision: str | None = "7e2b5d9c4a31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE issue SET status_changed_at = updated_at "
        "WHERE status = 'closed' AND status_changed_at IS NULL"
    )


def downgrade() -> None:
    pass  # the filled-in times are as good as none: nothing to undo
