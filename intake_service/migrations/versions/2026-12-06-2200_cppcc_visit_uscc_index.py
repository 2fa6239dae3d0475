"""cppcc_visit.uscc index: the enterprise file (一企一档) reads one enterprise's 165 visits

Revision ID: 4e6a8c0b2d91
Revises: 9a3d5e7b1c62
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4e6a8c0b2d91"
down_revision: str | None = "9a3d5e7b1c62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_cppcc_visit_uscc",
        "cppcc_visit",
        ["uscc"],
        postgresql_where=sa.text("uscc IS NOT NULL"),
        sqlite_where=sa.text("uscc IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_cppcc_visit_uscc", table_name="cppcc_visit")
