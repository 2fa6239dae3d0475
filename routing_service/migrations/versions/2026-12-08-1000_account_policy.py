"""staff_user.must_change_password: the account must change its password before anything else

Revision ID: 7a41c9d2e6b0
Revises: 1d8e5a3c7b92
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a41c9d2e6b0"
down_revision: str | None = "1d8e5a3c7b92"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing accounts chose (or were given) their passwords before the policy: not forced.
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("must_change_password")
