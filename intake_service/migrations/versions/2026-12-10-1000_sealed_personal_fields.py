"""Personal fields sealed with SM4 (services.crypto): identity and free-text columns become TEXT
(a sealed value is longer than the plaintext), blind-index columns for the phone and the credit
code, the kit's JSON payloads as sealed text. The rows themselves are sealed by the background
encryption (services/encryption.py), not here: an upgrade never holds the table for long.

Revision ID: 9b3e1f7a2c58
Revises: 5c2e8a4f6b17
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.kit_migrations

revision: str = "9b3e1f7a2c58"
down_revision: str | None = "5c2e8a4f6b17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, type before, nullable)
_ISSUE_TEXT = (
    ("title", sa.String(200), False),
    ("address", sa.String(300), True),
    ("submitter_name", sa.String(100), True),
    ("submitter_phone", sa.String(32), True),
    ("submitter_email", sa.String(200), True),
    ("uscc", sa.String(18), True),
    ("enterprise_name", sa.String(200), True),
)


def upgrade() -> None:
    op.drop_index("ix_issue_uscc", table_name="issue")
    with op.batch_alter_table("issue") as batch:
        for column, before, nullable in _ISSUE_TEXT:
            batch.alter_column(
                column, type_=sa.Text(), existing_type=before, existing_nullable=nullable
            )
        batch.add_column(sa.Column("phone_index", sa.String(64), nullable=True))
        batch.add_column(sa.Column("uscc_index", sa.String(64), nullable=True))
    op.create_index(
        "ix_issue_uscc_index",
        "issue",
        ["uscc_index"],
        postgresql_where=sa.text("uscc_index IS NOT NULL"),
        sqlite_where=sa.text("uscc_index IS NOT NULL"),
    )
    services.kit_migrations.json_columns_to_sealed_text()


def downgrade() -> None:
    # Only an installation whose values are still plain can go back (sealed values do not fit).
    services.kit_migrations.sealed_text_columns_to_json()
    op.drop_index("ix_issue_uscc_index", table_name="issue")
    with op.batch_alter_table("issue") as batch:
        batch.drop_column("uscc_index")
        batch.drop_column("phone_index")
        for column, before, nullable in _ISSUE_TEXT:
            batch.alter_column(
                column, type_=before, existing_type=sa.Text(), existing_nullable=nullable
            )
    op.create_index(
        "ix_issue_uscc",
        "issue",
        ["uscc"],
        postgresql_where=sa.text("uscc IS NOT NULL"),
        sqlite_where=sa.text("uscc IS NOT NULL"),
    )
