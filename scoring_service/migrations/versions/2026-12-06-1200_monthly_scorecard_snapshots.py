"""Closed months: frozen monthly scorecards, one version per close or recompute

Revision ID: 4f1d2c8e9a07
Revises: c9e63a0b4d23
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.models

revision: str = "4f1d2c8e9a07"
down_revision: str | None = "c9e63a0b4d23"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "monthly_scorecard_close",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("policy", _JSON, nullable=False),
        sa.Column("closed_by", sa.String(length=120), nullable=False),
        sa.Column("closed_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monthly_scorecard_close")),
        sa.UniqueConstraint("month", "version", name="uq_monthly_scorecard_close"),
    )
    op.create_table(
        "monthly_scorecard_snapshot",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("unit_kind", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("figures", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["month", "version"],
            ["monthly_scorecard_close.month", "monthly_scorecard_close.version"],
            name="fk_monthly_scorecard_snapshot_close",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monthly_scorecard_snapshot")),
        sa.UniqueConstraint("month", "version", "unit_code", name="uq_monthly_scorecard_snapshot"),
    )


def downgrade() -> None:
    op.drop_table("monthly_scorecard_snapshot")
    op.drop_table("monthly_scorecard_close")
