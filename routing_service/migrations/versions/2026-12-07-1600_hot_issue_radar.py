"""the hot-issue radar: clusters of related requests, their members and alerts, the policy, and
the proactive case's link to its cluster

Revision ID: 3f7b1c9e5d24
Revises: 6a2d8e4f1c93
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.models import UTCDateTime

revision: str = "3f7b1c9e5d24"
down_revision: str | None = "6a2d8e4f1c93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "hot_issue",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("area_unit_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("grams", _json(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("submitters", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("theme_month", sa.String(length=7), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_unit_id"], ["org_unit.id"], name=op.f("fk_hot_issue_area_unit_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hot_issue")),
    )
    op.create_index(
        "ix_hot_issue_topic_area_last", "hot_issue", ["topic", "area_unit_id", "last_at"]
    )
    op.create_index("ix_hot_issue_last_at", "hot_issue", ["last_at"])
    op.create_index(
        "uq_hot_issue_theme_month_area",
        "hot_issue",
        ["theme_month", "area_unit_id"],
        unique=True,
        postgresql_where=sa.text("theme_month IS NOT NULL"),
        sqlite_where=sa.text("theme_month IS NOT NULL"),
    )
    op.create_table(
        "hot_issue_member",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hot_issue_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("submitter_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("similarity", sa.Integer(), nullable=False),
        sa.Column("joined_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_hot_issue_member_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["hot_issue_id"],
            ["hot_issue.id"],
            name=op.f("fk_hot_issue_member_hot_issue_id_hot_issue"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hot_issue_member")),
        sa.UniqueConstraint("case_id", name=op.f("uq_hot_issue_member_case_id")),
    )
    op.create_index("ix_hot_issue_member_hot_issue_id", "hot_issue_member", ["hot_issue_id"])
    op.create_index(
        "ix_hot_issue_member_issue_received", "hot_issue_member", ["hot_issue_id", "received_at"]
    )
    op.create_table(
        "hot_issue_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hot_issue_id", sa.Uuid(), nullable=False),
        sa.Column("threshold", sa.String(length=32), nullable=False),
        sa.Column("submitters", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hot_issue_id"],
            ["hot_issue.id"],
            name=op.f("fk_hot_issue_alert_hot_issue_id_hot_issue"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hot_issue_alert")),
        sa.UniqueConstraint("hot_issue_id", "threshold", name="uq_hot_issue_alert_hot_issue_id"),
    )
    op.create_table(
        "radar_policy",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("thresholds", _json(), nullable=False),
        sa.Column("similarity", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_radar_policy")),
    )
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("hot_issue_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_case_hot_issue_id_hot_issue", "hot_issue", ["hot_issue_id"], ["id"]
        )
    op.create_index(
        "uq_case_hot_issue",
        "case",
        ["hot_issue_id"],
        unique=True,
        postgresql_where=sa.text("hot_issue_id IS NOT NULL"),
        sqlite_where=sa.text("hot_issue_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_case_hot_issue", table_name="case")
    with op.batch_alter_table("case") as batch:
        batch.drop_constraint("fk_case_hot_issue_id_hot_issue", type_="foreignkey")
        batch.drop_column("hot_issue_id")
    op.drop_table("radar_policy")
    op.drop_table("hot_issue_alert")
    op.drop_index("ix_hot_issue_member_issue_received", table_name="hot_issue_member")
    op.drop_index("ix_hot_issue_member_hot_issue_id", table_name="hot_issue_member")
    op.drop_table("hot_issue_member")
    op.drop_index("uq_hot_issue_theme_month_area", table_name="hot_issue")
    op.drop_index("ix_hot_issue_last_at", table_name="hot_issue")
    op.drop_index("ix_hot_issue_topic_area_last", table_name="hot_issue")
    op.drop_table("hot_issue")
