"""Public schemas of the knowledge base (知识库): answers are plain text, never HTML.

Imports nothing of intake's domains, so the request schemas can name :class:`ArticleBrief`."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from shared.enums import Topic
from shared.schemas.base import InputSchema, Instant, Schema

EXCERPT_CHARS = 120
# The relevance tiers of a search, best first.
Tier = Literal["question", "keywords", "answer"]


class ArticleBrief(Schema):
    """An article offered on a consultation's receipt (and its tracking view)."""

    id: uuid.UUID
    version: int
    question: str
    excerpt: str = Field(description=f"The answer's first {EXCERPT_CHARS} characters, plain text")
    unit_name: str = Field(description="The department that answers for it")


class ArticleOut(Schema):
    id: uuid.UUID
    version: int
    question: str
    answer: str = Field(description="Plain text (never HTML): show it as text")
    topic: Topic
    topic_label: str
    unit_code: str
    unit_name: str
    keywords: list[str]
    legal_basis: str | None
    valid_from: date | None
    valid_until: date | None
    published_at: Instant


class ArticleHit(ArticleOut):
    matched_in: Tier | None = Field(
        description="The best field holding the query (its relevance tier); null without q"
    )


class KnowledgeSearchOut(Schema):
    q: str | None
    topic: Topic | None
    items: list[ArticleHit]


class KnowledgeAnswerIn(InputSchema):
    article_id: uuid.UUID = Field(description="The published article that answered the request")


class ArticleUse(Schema):
    article_id: uuid.UUID
    question: str
    unit_code: str
    unit_name: str
    answered: int = Field(description="Consultations closed with it in the period")


class KnowledgeFiguresOut(Schema):
    start: date
    end: date
    answered: int = Field(description="Consultations answered from the knowledge base")
    articles_used: int = Field(description="Distinct articles that answered them")
    by_article: list[ArticleUse] = Field(description="Most used first")
