"""the knowledge base (知识库): articles owned by departments, their versions (all kept) and
their append-only history

Revision ID: 6a2d8e4f1c93
Revises: 9c4f2b7e1a60
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.models import UTCDateTime

revision: str = "6a2d8e4f1c93"
down_revision: str | None = "9c4f2b7e1a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "knowledge_article",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=120), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_unit.id"], name=op.f("fk_knowledge_article_unit_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_article")),
    )
    op.create_index(op.f("ix_knowledge_article_unit_id"), "knowledge_article", ["unit_id"])
    op.create_index("ix_knowledge_article_updated", "knowledge_article", ["updated_at", "id"])
    op.create_table(
        "knowledge_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("article_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", _json(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("written_by", sa.String(length=120), nullable=False),
        sa.Column("authors", _json(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=120), nullable=True),
        sa.Column("submitted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=120), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("warned_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_article.id"],
            name=op.f("fk_knowledge_version_article_id_knowledge_article"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_version")),
        sa.UniqueConstraint(
            "article_id", "version", name="uq_knowledge_version_article_id_version"
        ),
    )
    op.create_index(
        "ix_knowledge_version_published_until",
        "knowledge_version",
        ["valid_until"],
        postgresql_where=sa.text("status = 'published'"),
        sqlite_where=sa.text("status = 'published'"),
    )
    op.create_table(
        "knowledge_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_article.id"],
            name=op.f("fk_knowledge_event_article_id_knowledge_article"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_event")),
        sa.UniqueConstraint("article_id", "seq", name="uq_knowledge_event_article_id_seq"),
    )


def downgrade() -> None:
    # The articles go with their tables: intake's published copies are its own.
    op.drop_table("knowledge_event")
    op.drop_index("ix_knowledge_version_published_until", table_name="knowledge_version")
    op.drop_table("knowledge_version")
    op.drop_index("ix_knowledge_article_updated", table_name="knowledge_article")
    op.drop_index(op.f("ix_knowledge_article_unit_id"), table_name="knowledge_article")
    op.drop_table("knowledge_article")
