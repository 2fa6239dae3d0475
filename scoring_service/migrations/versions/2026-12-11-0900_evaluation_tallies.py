"""Roll-ups for the evaluation and the statistics (issue 21): unit × month and day × channel
× topic tallies kept by the events, partial indexes on the undecided cards that are counted
live, partial indexes of project steps for the agency statistics, and the state row. The tallies are filled by the scoring worker at its first start
after this upgrade (``scoring_service.evaluation.tallies.ensure_built``) or by
``yingshang tallies rebuild``; until then the evaluation counts from the facts.

Revision ID: 3b9d6e2f8a14
Revises: e8b1d5c3a7f9
Create Date: 2026-12-11 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.models

revision: str = "3b9d6e2f8a14"
down_revision: str | None = "e8b1d5c3a7f9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNIT_COUNTERS = (
    "dispatched", "signed_on_time", "responded", "returned", "due", "completed_on_time", "red",
    "listed", "escalated", "completed", "redone", "working_days_sum", "working_days_count",
    "ratings", "satisfied", "basic", "unsatisfied", "resolution_known", "resolved", "agency_due",
    "agency_on_time",
)  # fmt: skip
_FIGURE_COUNTERS = ("collected", "resolved", "in_progress", "ratings", "satisfied", "basic")
_PARTIAL = {
    "ix_card_fact_unsigned": (
        "dispatched_at", "signed_at IS NULL AND status IN ('dispatched', 'suspended')"),
    "ix_card_fact_uncontacted": (
        "contact_due_at", "first_contact_at IS NULL AND signed_at IS NOT NULL"),
    "ix_card_fact_unsubmitted": (
        "due_at", "submitted_at IS NULL AND status NOT IN ('returned', 'cancelled')"),
    "ix_card_fact_step_approved": ("approved_at", "role = 'step'"),
    "ix_card_fact_step_due": ("due_at", "role = 'step'"),
}  # fmt: skip


def _counters(names: Sequence[str]) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "unit_month_tally",
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        *_counters(_UNIT_COUNTERS),
        sa.PrimaryKeyConstraint("unit_code", "month", name=op.f("pk_unit_month_tally")),
    )
    op.create_table(
        "figure_day_tally",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("service", sa.Boolean(), nullable=False),
        *_counters(_FIGURE_COUNTERS),
        sa.PrimaryKeyConstraint(
            "day", "channel", "topic", "service", name=op.f("pk_figure_day_tally")
        ),
    )
    op.create_table(
        "tally_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("built_at", services.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_at", services.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("drift", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tally_state")),
    )
    for name, (column, where) in _PARTIAL.items():
        op.create_index(name, "card_fact", [column], postgresql_where=sa.text(where),
                        sqlite_where=sa.text(where))  # fmt: skip


def downgrade() -> None:
    for name in _PARTIAL:
        op.drop_index(name, table_name="card_fact")
    op.drop_table("tally_state")
    op.drop_table("figure_day_tally")
    op.drop_table("unit_month_tally")
