"""Personal data in use and over time: the identity-access log (who read or erased a request's
personal data, never the values), when and why a request's personal fields were erased, and a
partial index of the retention job's candidates (archived, not yet erased)

Revision ID: 4d7c2a9e1f60
Revises: 9b3e1f7a2c58
Create Date: 2026-12-10 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.models

revision: str = "4d7c2a9e1f60"
down_revision: str | None = "9b3e1f7a2c58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CANDIDATES = "status = 'closed' AND personal_erased_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "identity_access",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=True),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("tracking_no", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_access")),
    )
    op.create_index("ix_identity_access_at", "identity_access", ["at", "id"])
    op.create_index("ix_identity_access_tracking_no", "identity_access", ["tracking_no", "at"])
    op.create_index("ix_identity_access_actor", "identity_access", ["actor", "at"])
    with op.batch_alter_table("issue") as batch:
        batch.add_column(
            sa.Column(
                "personal_erased_at", services.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("personal_erasure_reason", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_issue_retention_candidates",
        "issue",
        ["status_changed_at"],
        postgresql_where=sa.text(_CANDIDATES),
        sqlite_where=sa.text(_CANDIDATES),
    )


def downgrade() -> None:
    op.drop_index("ix_issue_retention_candidates", table_name="issue")
    with op.batch_alter_table("issue") as batch:
        batch.drop_column("personal_erasure_reason")
        batch.drop_column("personal_erased_at")
    op.drop_index("ix_identity_access_actor", table_name="identity_access")
    op.drop_index("ix_identity_access_tracking_no", table_name="identity_access")
    op.drop_index("ix_identity_access_at", table_name="identity_access")
    op.drop_table("identity_access")
