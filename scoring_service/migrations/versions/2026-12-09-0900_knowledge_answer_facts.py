"""Consultations answered from the knowledge base (知识库解答): one fact per request

Revision ID: 3e7b1d9c5a42
Revises: b1cd8d2b5e3b
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.models

revision: str = "3e7b1d9c5a42"
down_revision: str | None = "b1cd8d2b5e3b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_answer_fact",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("tracking_no", sa.String(length=32), nullable=False),
        sa.Column("article_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("answered_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_knowledge_answer_fact")),
    )
    op.create_index(
        "ix_knowledge_answer_fact_answered_at", "knowledge_answer_fact", ["answered_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_knowledge_answer_fact_answered_at", table_name="knowledge_answer_fact")
    op.drop_table("knowledge_answer_fact")
