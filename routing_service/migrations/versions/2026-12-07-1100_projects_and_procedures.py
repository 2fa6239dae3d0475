"""projects (帮办代办 · 重点项目), their hash-chained history, and the procedure catalogue

Revision ID: 7e3c5a9d1f48
Revises: 4b9e1d6a3c72
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.models import UTCDateTime

revision: str = "7e3c5a9d1f48"
down_revision: str | None = "4b9e1d6a3c72"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "procedure",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("time_limit_days", sa.Integer(), nullable=False),
        sa.Column("prerequisites", _json(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_unit.id"], name=op.f("fk_procedure_unit_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure")),
        sa.UniqueConstraint("code", name=op.f("uq_procedure_code")),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("investment", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("industry", sa.String(length=50), nullable=True),
        sa.Column("area_unit_id", sa.Uuid(), nullable=False),
        sa.Column("center_unit_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("paused_from", sa.String(length=16), nullable=True),
        sa.Column("stage_reason", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("contact_name", sa.String(length=50), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("stage_dates", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("history_head", sa.String(length=64), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["staff_user.id"], name=op.f("fk_project_agent_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["area_unit_id"], ["org_unit.id"], name=op.f("fk_project_area_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["center_unit_id"], ["org_unit.id"], name=op.f("fk_project_center_unit_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
    )
    op.create_index(op.f("ix_project_agent_id"), "project", ["agent_id"])
    op.create_index(op.f("ix_project_area_unit_id"), "project", ["area_unit_id"])
    op.create_index(op.f("ix_project_center_unit_id"), "project", ["center_unit_id"])
    op.create_index(op.f("ix_project_uscc"), "project", ["uscc"])
    op.create_table(
        "project_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_project_event_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_event")),
        sa.UniqueConstraint("project_id", "seq", name="uq_project_event_project_id_seq"),
    )


def downgrade() -> None:
    # Projects and their history go with the tables (nothing else refers to them yet).
    op.drop_table("project_event")
    op.drop_index(op.f("ix_project_uscc"), table_name="project")
    op.drop_index(op.f("ix_project_center_unit_id"), table_name="project")
    op.drop_index(op.f("ix_project_area_unit_id"), table_name="project")
    op.drop_index(op.f("ix_project_agent_id"), table_name="project")
    op.drop_table("project")
    op.drop_table("procedure")
