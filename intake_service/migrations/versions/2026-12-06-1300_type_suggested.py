"""Requests whose type was suggested from the text (Open311 apps that send no attributes)

Revision ID: 5b8e2f4c7d10
Revises: a7c41e9d2b01
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b8e2f4c7d10"
down_revision: str | None = "a7c41e9d2b01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "issue",
        sa.Column("type_suggested", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("issue", "type_suggested")
