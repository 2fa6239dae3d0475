"""staff_user.tokens_valid_after: tokens issued before it are refused

Revision ID: 3f7a9c1e5b20
Revises: b8d52fae3c12
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.models

revision: str = "3f7a9c1e5b20"
down_revision: str | None = "b8d52fae3c12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "staff_user",
        sa.Column("tokens_valid_after", services.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("staff_user", "tokens_valid_after")
