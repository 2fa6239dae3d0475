"""webhook_subscription owned by a unit or a channel (原渠道反馈)

Revision ID: 7e4c2a9d5f18
Revises: 5c1e9d7a2b40
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e4c2a9d5f18"
down_revision: str | None = "5c1e9d7a2b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ONE_OWNER = (
    "(unit_id IS NOT NULL AND channel IS NULL) OR (unit_id IS NULL AND channel IS NOT NULL)"
)


def upgrade() -> None:
    # batch_alter_table: SQLite rebuilds the table to alter a column or add a constraint.
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
        batch.alter_column("unit_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_check_constraint(op.f("ck_webhook_subscription_one_owner"), _ONE_OWNER)
    op.create_index(
        op.f("ix_webhook_subscription_channel"), "webhook_subscription", ["channel"], unique=False
    )


def downgrade() -> None:
    # Channel-owned subscriptions and their deliveries cannot exist without the column.
    subscription = sa.table("webhook_subscription", sa.column("id"), sa.column("channel"))
    delivery = sa.table("webhook_delivery", sa.column("subscription_id"))
    channel_owned = sa.select(subscription.c.id).where(subscription.c.channel.is_not(None))
    op.execute(delivery.delete().where(delivery.c.subscription_id.in_(channel_owned)))
    op.execute(subscription.delete().where(subscription.c.channel.is_not(None)))
    op.drop_index(op.f("ix_webhook_subscription_channel"), table_name="webhook_subscription")
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.drop_constraint(op.f("ck_webhook_subscription_one_owner"), type_="check")
        batch.alter_column("unit_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_column("channel")
