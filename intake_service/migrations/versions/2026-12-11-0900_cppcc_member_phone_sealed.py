"""A CPPCC member's phone sealed with SM4 like a submitter's (services.crypto): the column
becomes TEXT (a sealed value is longer than the number) and gains a blind-index column for
the "already registered" check. The rows are sealed by the background encryption
(services/encryption.py, ``CppccMember.sealing_due``), not here.

Revision ID: 7e2b5d9c4a31
Revises: 4d7c2a9e1f60
Create Date: 2026-12-11 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e2b5d9c4a31"
down_revision: str | None = "4d7c2a9e1f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cppcc_member") as batch:
        batch.alter_column(
            "phone", type_=sa.Text(), existing_type=sa.String(32), existing_nullable=True
        )
        batch.add_column(sa.Column("phone_index", sa.String(64), nullable=True))
    op.create_index("ix_cppcc_member_phone_index", "cppcc_member", ["phone_index"])


def downgrade() -> None:
    # Only an installation whose phones are still plain can go back (sealed values do not fit).
    op.drop_index("ix_cppcc_member_phone_index", table_name="cppcc_member")
    with op.batch_alter_table("cppcc_member") as batch:
        batch.drop_column("phone_index")
        batch.alter_column(
            "phone", type_=sa.String(32), existing_type=sa.Text(), existing_nullable=True
        )
