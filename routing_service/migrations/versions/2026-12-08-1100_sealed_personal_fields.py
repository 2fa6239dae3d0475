"""Personal fields sealed with SM4 (services.crypto): a case's submitter and a confidential
report's text, webhook payloads (case snapshots), a project's contact person, and the kit's
JSON payloads become TEXT. The rows are sealed by the background encryption
(services/encryption.py), not here.

Revision ID: c5e2a8d4f1b3
Revises: 7a41c9d2e6b0
Create Date: 2026-12-08 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.kit_migrations

revision: str = "c5e2a8d4f1b3"
down_revision: str | None = "7a41c9d2e6b0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, type before, nullable)
_TEXT = (
    ("case", "title", sa.String(200), False),
    ("case", "address", sa.String(300), True),
    ("project", "contact_name", sa.String(50), True),
    ("project", "contact_phone", sa.String(32), True),
)
_JSON = (("case", "submitter", False), ("webhook_delivery", "payload", False))


def upgrade() -> None:
    for table, column, before, nullable in _TEXT:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column, type_=sa.Text(), existing_type=before, existing_nullable=nullable
            )
    services.kit_migrations.json_columns_to_sealed_text(_JSON)
    services.kit_migrations.json_columns_to_sealed_text()


def downgrade() -> None:
    # Only an installation whose values are still plain can go back (sealed values do not fit).
    services.kit_migrations.sealed_text_columns_to_json()
    services.kit_migrations.sealed_text_columns_to_json(_JSON)
    for table, column, before, nullable in _TEXT:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column, type_=before, existing_type=sa.Text(), existing_nullable=nullable
            )
