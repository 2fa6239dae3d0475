"""working surfaces: submitter columns, search bigrams and the indexes queues and lists read

Revision ID: 5c1e9d7a2b40
Revises: 3f7a9c1e5b20
Create Date: 2026-12-06 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.models
import services.search
from services.search import grams

revision: str = "5c1e9d7a2b40"
down_revision: str | None = "3f7a9c1e5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('dispatched', 'signed')"
_AWAITING_CENTER = "status IN ('returned', 'submitted')"
_BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(
            sa.Column("submitter_kind", sa.String(16), nullable=False, server_default="person")
        )
        batch.add_column(sa.Column("enterprise_uscc", sa.String(18), nullable=True))
        batch.add_column(sa.Column("enterprise_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("search_grams", services.search.GramArray(), nullable=True))
        batch.add_column(
            sa.Column("due_at", services.models.UTCDateTime(timezone=True), nullable=True)
        )
    _backfill()
    # case.due_at as routing_service.models._case.refresh_case_due keeps it (written out here:
    # a migration must not change when the model code does).
    op.execute(
        'UPDATE "case" SET due_at = COALESCE('
        '(SELECT min(card.due_at) FROM card WHERE card.case_id = "case".id'
        " AND card.status IN ('dispatched', 'signed')),"
        ' CASE WHEN "case".status = \'pending_verification\' THEN "case".verify_due_at END)'
    )
    with op.batch_alter_table("case") as batch:
        batch.alter_column("submitter_kind", server_default=None)
    op.create_index("ix_case_updated_at", "case", ["updated_at"])
    op.create_index("ix_case_due_at", "case", ["due_at", "id"])
    op.create_index(
        "ix_case_enterprise_uscc",
        "case",
        ["enterprise_uscc"],
        postgresql_where=sa.text("enterprise_uscc IS NOT NULL"),
        sqlite_where=sa.text("enterprise_uscc IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_case_search_grams", "case", ["search_grams"], postgresql_using="gin")
    op.create_index("ix_card_unit_due", "card", ["unit_id", "due_at"])
    op.create_index(
        "ix_card_open_due",
        "card",
        ["due_at"],
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.create_index(
        "ix_card_awaiting_center",
        "card",
        ["status"],
        postgresql_where=sa.text(_AWAITING_CENTER),
        sqlite_where=sa.text(_AWAITING_CENTER),
    )
    op.create_index(
        "ix_extension_pending",
        "extension",
        ["card_id"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def _backfill() -> None:
    """Existing cases get their submitter columns and bigrams, in batches by id."""
    bind = op.get_bind()
    case = sa.table(
        "case",
        sa.column("id", sa.Uuid()),
        sa.column("tracking_no", sa.String()),
        sa.column("title", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("address", sa.String()),
        sa.column("submitter", sa.JSON()),
        sa.column("submitter_kind", sa.String()),
        sa.column("enterprise_uscc", sa.String()),
        sa.column("enterprise_name", sa.String()),
        sa.column("search_grams", services.search.GramArray()),
    )
    last = None
    while True:
        stmt = sa.select(
            case.c.id, case.c.tracking_no, case.c.title, case.c.description, case.c.address,
            case.c.submitter,
        ).order_by(case.c.id).limit(_BATCH)  # fmt: skip
        if last is not None:
            stmt = stmt.where(case.c.id > last)
        rows = bind.execute(stmt).all()
        if not rows:
            return
        for row in rows:
            submitter = row.submitter or {}
            bind.execute(
                case.update()
                .where(case.c.id == row.id)
                .values(
                    submitter_kind=submitter.get("kind") or "person",
                    enterprise_uscc=submitter.get("uscc"),
                    enterprise_name=submitter.get("enterprise_name"),
                    search_grams=grams(
                        row.title,
                        row.description,
                        row.address,
                        row.tracking_no,
                        submitter.get("enterprise_name"),
                    ),  # fmt: skip
                )
            )
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_extension_pending", table_name="extension")
    op.drop_index("ix_card_awaiting_center", table_name="card")
    op.drop_index("ix_card_open_due", table_name="card")
    op.drop_index("ix_card_unit_due", table_name="card")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_case_search_grams", table_name="case")
    op.drop_index("ix_case_enterprise_uscc", table_name="case")
    op.drop_index("ix_case_due_at", table_name="case")
    op.drop_index("ix_case_updated_at", table_name="case")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("due_at")
        batch.drop_column("search_grams")
        batch.drop_column("enterprise_name")
        batch.drop_column("enterprise_uscc")
        batch.drop_column("submitter_kind")
