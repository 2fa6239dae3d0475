"""the agency plan of projects: steps as cards of the project's agency case, blockers raised as
requests, and the tracking number and secret the enterprise follows its project by

Revision ID: 9c4f2b7e1a60
Revises: 7e3c5a9d1f48
Create Date: 2026-12-07 13:00:00
"""

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.models import UTCDateTime

revision: str = "9c4f2b7e1a60"
down_revision: str | None = "7e3c5a9d1f48"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("project") as batch:
        batch.add_column(sa.Column("tracking_no", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("tracking_secret_hash", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    # Projects registered before this revision get a number; their secret is unknown to anyone
    # (a random one, hashed and thrown away) until the center issues a new one.
    conn = op.get_bind()
    project = sa.table(
        "project",
        sa.column("id", sa.Uuid()),
        sa.column("tracking_no", sa.String()),
        sa.column("tracking_secret_hash", sa.String()),
    )
    for (project_id,) in conn.execute(sa.select(project.c.id)).all():
        number = "XM" + "".join(secrets.choice(_ALPHABET) for _ in range(12))
        digest = hashlib.sha256(secrets.token_urlsafe(16).encode()).hexdigest()
        conn.execute(
            project.update()
            .where(project.c.id == project_id)
            .values(tracking_no=number, tracking_secret_hash=digest)
        )
    with op.batch_alter_table("project") as batch:
        batch.alter_column("tracking_no", existing_type=sa.String(length=32), nullable=False)
        batch.alter_column(
            "tracking_secret_hash", existing_type=sa.String(length=64), nullable=False
        )
        batch.alter_column("revision", server_default=None)
        batch.create_unique_constraint("uq_project_tracking_no", ["tracking_no"])

    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("project_role", sa.String(length=8), nullable=True))
        batch.create_foreign_key("fk_case_project_id_project", "project", ["project_id"], ["id"])
    op.create_index(
        "ix_case_project",
        "case",
        ["project_id"],
        postgresql_where=sa.text("project_id IS NOT NULL"),
        sqlite_where=sa.text("project_id IS NOT NULL"),
    )
    with op.batch_alter_table("card") as batch:
        batch.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("procedure_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("legal_limit_days", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("on_spot", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key("fk_card_project_id_project", "project", ["project_id"], ["id"])
    with op.batch_alter_table("card") as batch:
        batch.alter_column("on_spot", server_default=None)
    op.create_index(
        "ix_card_project",
        "card",
        ["project_id"],
        postgresql_where=sa.text("project_id IS NOT NULL"),
        sqlite_where=sa.text("project_id IS NOT NULL"),
    )

    op.create_table(
        "project_step",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("procedure_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("limit_days", sa.Integer(), nullable=False),
        sa.Column("legal_limit_days", sa.Integer(), nullable=False),
        sa.Column("prerequisites", _json(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("on_spot", sa.Boolean(), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=True),
        sa.Column("dispatched_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_project_step_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_project_step_project_id_project")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_unit.id"], name=op.f("fk_project_step_unit_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_step")),
    )
    op.create_index("ix_project_step_project_id", "project_step", ["project_id"])
    op.create_index("ix_project_step_card_id", "project_step", ["card_id"])
    op.create_index("ix_project_created_at_id", "project", ["created_at", "id"])
    op.create_index(
        "ix_card_project_open_due",
        "card",
        ["project_id", "due_at"],
        postgresql_where=sa.text("project_id IS NOT NULL AND status IN ('dispatched', 'signed')"),
        sqlite_where=sa.text("project_id IS NOT NULL AND status IN ('dispatched', 'signed')"),
    )
    op.create_index(
        "uq_project_step_live_procedure",
        "project_step",
        ["project_id", "procedure_code"],
        unique=True,
        postgresql_where=sa.text("status <> 'cancelled'"),
        sqlite_where=sa.text("status <> 'cancelled'"),
    )
    op.create_table(
        "project_blocker",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("tracking_no", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("raised_by", sa.String(length=120), nullable=False),
        sa.Column("raised_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_project_blocker_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_blocker")),
        sa.UniqueConstraint("request_id", name=op.f("uq_project_blocker_request_id")),
        sa.UniqueConstraint("tracking_no", name=op.f("uq_project_blocker_tracking_no")),
    )
    op.create_index("ix_project_blocker_project_id", "project_blocker", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_project_blocker_project_id", table_name="project_blocker")
    op.drop_table("project_blocker")
    op.drop_index("ix_card_project_open_due", table_name="card")
    op.drop_index("ix_project_created_at_id", table_name="project")
    op.drop_index("ix_project_step_card_id", table_name="project_step")
    op.drop_index("uq_project_step_live_procedure", table_name="project_step")
    op.drop_index("ix_project_step_project_id", table_name="project_step")
    op.drop_table("project_step")
    op.drop_index("ix_card_project", table_name="card")
    with op.batch_alter_table("card") as batch:
        batch.drop_constraint("fk_card_project_id_project", type_="foreignkey")
        batch.drop_column("on_spot")
        batch.drop_column("legal_limit_days")
        batch.drop_column("procedure_code")
        batch.drop_column("project_id")
    op.drop_index("ix_case_project", table_name="case")
    with op.batch_alter_table("case") as batch:
        batch.drop_constraint("fk_case_project_id_project", type_="foreignkey")
        batch.drop_column("project_role")
        batch.drop_column("project_id")
    with op.batch_alter_table("project") as batch:
        batch.drop_constraint("uq_project_tracking_no", type_="unique")
        batch.drop_column("revision")
        batch.drop_column("tracking_secret_hash")
        batch.drop_column("tracking_no")
