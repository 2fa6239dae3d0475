"""recorded_by holds the 200 characters the API accepts

Revision ID: 3c1d5e7a9b20
Revises: e015de6b619b
Create Date: 2026-11-28 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c1d5e7a9b20"
down_revision: str | None = "e015de6b619b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The hotline operator's name (ShortText, 200 characters) was cut at 100 by the column.
    with op.batch_alter_table("issue") as batch:
        batch.alter_column(
            "recorded_by", type_=sa.String(length=200), existing_type=sa.String(length=100)
        )


def downgrade() -> None:
    with op.batch_alter_table("issue") as batch:
        batch.alter_column(
            "recorded_by", type_=sa.String(length=100), existing_type=sa.String(length=200)
        )
