"""Org-tree paths on case and card facts, so scoring scopes feedback, ratings and revisits

Revision ID: 8a2d6e1f3b54
Revises: 4f1d2c8e9a07
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a2d6e1f3b54"
down_revision: str | None = "4f1d2c8e9a07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("case_fact", sa.Column("owner_unit_path", sa.String(400), nullable=True))
    op.add_column("card_fact", sa.Column("unit_path", sa.String(400), nullable=True))


def downgrade() -> None:
    op.drop_column("card_fact", "unit_path")
    op.drop_column("case_fact", "owner_unit_path")
