"""Project agency (帮办代办): step fields on card facts, project facts, project ratings

Revision ID: b1cd8d2b5e3b
Revises: 8a2d6e1f3b54
Create Date: 2026-12-08 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.models

revision: str = "b1cd8d2b5e3b"
down_revision: str | None = "8a2d6e1f3b54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("card_fact", sa.Column("project_id", sa.Uuid(), nullable=True))
    op.add_column("card_fact", sa.Column("procedure_code", sa.String(length=32), nullable=True))
    op.add_column("card_fact", sa.Column("limit_days", sa.Integer(), nullable=True))
    # Existing rows are not steps: false, then the default leaves with the backfill.
    op.add_column(
        "card_fact",
        sa.Column("on_spot", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    with op.batch_alter_table("card_fact") as batch:
        batch.alter_column("on_spot", server_default=None)
    op.create_index(op.f("ix_card_fact_project_id"), "card_fact", ["project_id"])

    op.create_table(
        "project_fact",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("tracking_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("investment", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("industry", sa.String(length=50), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("area_unit_code", sa.String(length=32), nullable=False),
        sa.Column("area_unit_path", sa.String(length=400), nullable=False),
        sa.Column("center_unit_code", sa.String(length=32), nullable=False),
        sa.Column("center_unit_path", sa.String(length=400), nullable=False),
        sa.Column("stage_dates", _JSON, nullable=False),
        sa.Column("created_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("continuing_on", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("terminated_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_fact")),
        sa.UniqueConstraint("tracking_no", name=op.f("uq_project_fact_tracking_no")),
    )
    op.create_index("ix_project_fact_created_at", "project_fact", ["created_at"])
    op.create_index("ix_project_fact_started_on", "project_fact", ["started_on"])
    op.create_index("ix_project_fact_continuing_on", "project_fact", ["continuing_on"])
    op.create_index("ix_project_fact_completed_on", "project_fact", ["completed_on"])

    op.create_table(
        "project_rating",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("milestone", sa.String(length=16), nullable=False),
        sa.Column("satisfaction", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("rated_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_rating")),
        sa.UniqueConstraint("project_id", "milestone", name="uq_project_rating_project_milestone"),
    )
    op.create_index("ix_project_rating_rated_at", "project_rating", ["rated_at"])


def downgrade() -> None:
    op.drop_index("ix_project_rating_rated_at", table_name="project_rating")
    op.drop_table("project_rating")
    op.drop_index("ix_project_fact_completed_on", table_name="project_fact")
    op.drop_index("ix_project_fact_continuing_on", table_name="project_fact")
    op.drop_index("ix_project_fact_started_on", table_name="project_fact")
    op.drop_index("ix_project_fact_created_at", table_name="project_fact")
    op.drop_table("project_fact")
    op.drop_index(op.f("ix_card_fact_project_id"), table_name="card_fact")
    with op.batch_alter_table("card_fact") as batch:
        batch.drop_column("on_spot")
        batch.drop_column("limit_days")
        batch.drop_column("procedure_code")
        batch.drop_column("project_id")
