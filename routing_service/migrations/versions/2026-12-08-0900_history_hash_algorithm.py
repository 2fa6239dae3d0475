"""case_event, project_event: the algorithm each history event was hashed with (SM3 or SHA-256)

Revision ID: 1d8e5a3c7b92
Revises: 3f7b1c9e5d24
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1d8e5a3c7b92"
down_revision: str | None = "3f7b1c9e5d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("case_event", "project_event")


def upgrade() -> None:
    for table in TABLES:
        # Every event written so far was hashed with SHA-256; the constant default labels them
        # without rewriting the table (PostgreSQL 11+), then goes, so each append must say.
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("hash_alg", sa.String(length=16), nullable=False, server_default="sha256")
            )
        with op.batch_alter_table(table) as batch:
            batch.alter_column("hash_alg", server_default=None)


def downgrade() -> None:
    # Without the column only SHA-256 chains verify: refuse rather than leave SM3 events that the
    # older code would report as altered.
    bind = op.get_bind()
    for table in TABLES:
        events = sa.table(table, sa.column("hash_alg", sa.String))
        sm3 = bind.execute(
            sa.select(sa.func.count()).select_from(events).where(events.c.hash_alg != "sha256")
        ).scalar()
        if sm3:
            raise RuntimeError(
                f"{table} holds {sm3} events not hashed with SHA-256; set ROUTING_HISTORY_HASH"
                " to sha256 before such events are written if a downgrade must stay possible"
            )
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("hash_alg")
