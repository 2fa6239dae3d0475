"""webhook_subscription: the previous secret keeps signing for a window after a rotation

Revision ID: 4b9e1d6a3c72
Revises: 8d2a6c4e0f37
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.models import UTCDateTime

revision: str = "4b9e1d6a3c72"
down_revision: str | None = "8d2a6c4e0f37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing (a rotation fills them in).
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_until", UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    # A rotation window in progress ends: only the current secret signs from then on.
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")
