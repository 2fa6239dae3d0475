"""Requests raised from a project (帮办代办中的堵点): the routing project they belong to

Revision ID: 7d3a9c5e1f24
Revises: 2b8f4d6a0c13
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3a9c5e1f24"
down_revision: str | None = "2b8f4d6a0c13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("issue", sa.Column("project_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("issue", "project_id")
