"""radar clusters for the statistics' top issues and monthly themes

Revision ID: 8d4f2a6c1e35
Revises: 3e7b1d9c5a42
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.models

revision: str = "8d4f2a6c1e35"
down_revision: str | None = "3e7b1d9c5a42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hot_issue_fact",
        sa.Column("hot_issue_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("area_unit_code", sa.String(length=32), nullable=False),
        sa.Column("area_unit_name", sa.String(length=100), nullable=False),
        sa.Column("area_unit_path", sa.String(length=400), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("submitters", sa.Integer(), nullable=False),
        sa.Column("first_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("theme_month", sa.String(length=7), nullable=True),
        sa.PrimaryKeyConstraint("hot_issue_id", name=op.f("pk_hot_issue_fact")),
    )
    op.create_index("ix_hot_issue_fact_last_at", "hot_issue_fact", ["last_at"])
    op.create_index("ix_hot_issue_fact_theme_month", "hot_issue_fact", ["theme_month"])


def downgrade() -> None:
    op.drop_index("ix_hot_issue_fact_theme_month", table_name="hot_issue_fact")
    op.drop_index("ix_hot_issue_fact_last_at", table_name="hot_issue_fact")
    op.drop_table("hot_issue_fact")
