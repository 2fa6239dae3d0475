"""The knowledge base as intake serves it (知识库): published articles with their search bigrams
(GIN on PostgreSQL), and the consultations answered from them

Revision ID: 5c2e8a4f6b17
Revises: 7d3a9c5e1f24
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.models
import services.search

revision: str = "5c2e8a4f6b17"
down_revision: str | None = "7d3a9c5e1f24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "knowledge_article",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("unit_name", sa.Text(), nullable=False),
        sa.Column("keywords", _JSON, nullable=False),
        sa.Column("keywords_text", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("published_at", services.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", services.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("search_grams", services.search.GramArray(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_article")),
    )
    op.create_index(
        "ix_knowledge_article_status_published_at",
        "knowledge_article",
        ["status", "published_at"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_knowledge_article_search_grams",
            "knowledge_article",
            ["search_grams"],
            postgresql_using="gin",
        )
    op.create_table(
        "knowledge_answer",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("article_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("answered_at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issue.id"], name=op.f("fk_knowledge_answer_issue_id_issue")
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_knowledge_answer")),
    )
    op.create_index("ix_knowledge_answer_answered_at", "knowledge_answer", ["answered_at"])
    op.create_index("ix_knowledge_answer_article_id", "knowledge_answer", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_answer_article_id", table_name="knowledge_answer")
    op.drop_index("ix_knowledge_answer_answered_at", table_name="knowledge_answer")
    op.drop_table("knowledge_answer")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_knowledge_article_search_grams", table_name="knowledge_article")
    op.drop_index("ix_knowledge_article_status_published_at", table_name="knowledge_article")
    op.drop_table("knowledge_article")
