"""issue.search_grams (bigrams for staff search) and the indexes the staff list sorts by

Revision ID: 9a3d5e7b1c62
Revises: 5b8e2f4c7d10
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.search
from services.search import grams

revision: str = "9a3d5e7b1c62"
down_revision: str | None = "5b8e2f4c7d10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("issue") as batch:
        batch.add_column(sa.Column("search_grams", services.search.GramArray(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _backfill()
        op.create_index("ix_issue_search_grams", "issue", ["search_grams"], postgresql_using="gin")
    op.create_index("ix_issue_updated_at", "issue", ["updated_at"])
    op.create_index(
        "ix_issue_uscc",
        "issue",
        ["uscc"],
        postgresql_where=sa.text("uscc IS NOT NULL"),
        sqlite_where=sa.text("uscc IS NOT NULL"),
    )


def _backfill() -> None:
    """Bigrams of existing requests, in batches by id; identity of protected ones left out."""
    bind = op.get_bind()
    issue = sa.table(
        "issue",
        sa.column("id", sa.Uuid()),
        sa.column("tracking_no", sa.String()),
        sa.column("title", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("address", sa.String()),
        sa.column("enterprise_name", sa.String()),
        sa.column("anonymous", sa.Boolean()),
        sa.column("confidential", sa.Boolean()),
        sa.column("search_grams", services.search.GramArray()),
    )
    last = None
    while True:
        stmt = sa.select(issue).order_by(issue.c.id).limit(_BATCH)
        if last is not None:
            stmt = stmt.where(issue.c.id > last)
        rows = bind.execute(stmt).all()
        if not rows:
            return
        for row in rows:
            name = None if row.anonymous or row.confidential else row.enterprise_name
            bind.execute(
                issue.update()
                .where(issue.c.id == row.id)
                .values(
                    search_grams=grams(
                        row.title, row.description, row.address, row.tracking_no, name
                    )
                )  # fmt: skip
            )
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_issue_uscc", table_name="issue")
    op.drop_index("ix_issue_updated_at", table_name="issue")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_issue_search_grams", table_name="issue")
    with op.batch_alter_table("issue") as batch:
        batch.drop_column("search_grams")
