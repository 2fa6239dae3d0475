"""Reads of the published knowledge base: validity today, tiered search, receipt candidates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Boolean, Row, String, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from intake_service.knowledge.schemas import Tier
from intake_service.models import Issue, KnowledgeAnswer, KnowledgeArticle
from services.filters import within_days
from services.pagination import Key, Keyset, read_page
from services.search import SearchQuery
from shared.enums import ArticleStatus

# What a search finds an article by, in relevance tiers (best first).
SEARCH_FIELDS = (("question",), ("keywords_text",), ("answer",))
TIER_NAMES: tuple[Tier, ...] = ("question", "keywords", "answer")
NEWEST = Keyset(
    (
        Key(KnowledgeArticle.published_at, "datetime", True),
        Key(KnowledgeArticle.id, "uuid", True),
    )
)


def citable(today: date) -> list[ColumnElement[bool]]:
    """Published and valid on ``today`` (an open bound is no bound)."""
    return [
        KnowledgeArticle.status == ArticleStatus.published.value,
        or_(KnowledgeArticle.valid_from.is_(None), KnowledgeArticle.valid_from <= today),
        or_(KnowledgeArticle.valid_until.is_(None), KnowledgeArticle.valid_until >= today),
    ]


def _overlaps(tagged: list[str]) -> ColumnElement[bool]:
    """The row holds any of these tagged bigrams: ``&&``, which the GIN index answers."""
    array = cast(literal(tagged, type_=ARRAY(String(8))), ARRAY(String(8)))
    return KnowledgeArticle.search_grams.op("&&", return_type=Boolean)(array)


class KnowledgeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> KnowledgeRepository:
        return cls(session)

    async def citable(self, article_id: uuid.UUID, today: date) -> KnowledgeArticle | None:
        return await self.session.scalar(
            select(KnowledgeArticle).where(KnowledgeArticle.id == article_id, *citable(today))
        )

    async def search(
        self, query: SearchQuery | None, topic: str | None, today: date, limit: int
    ) -> list[KnowledgeArticle]:
        """Citable articles holding the query, by tier then newest first (newest first
        without a query)."""
        stmt = select(KnowledgeArticle).where(*citable(today))
        if topic is not None:
            stmt = stmt.where(KnowledgeArticle.topic == topic)
        tiers: list[ColumnElement[bool]] = []
        if query is not None:
            dialect = self.session.get_bind().dialect.name
            fields = [[getattr(KnowledgeArticle, name) for name in tier] for tier in SEARCH_FIELDS]
            await query.learn(self.session, KnowledgeArticle.__tablename__)
            tiers = query.tiers(dialect, KnowledgeArticle.search_grams, fields)
        # One page, no cursor: the public search answers its best few, it is not a listing.
        rows, _next, _total = await read_page(
            self.session, stmt, NEWEST, cursor=None, fingerprint="", limit=limit, tiers=tiers
        )
        return rows

    async def candidates(
        self, tagged: list[str], topic: str, today: date, limit: int, excerpt_chars: int
    ) -> Sequence[Row[Any]]:
        """Citable articles sharing a bigram of their question or keywords with a request,
        same topic first, then newest: an index lookup on PostgreSQL (``&&`` on the GIN
        index), never a walk through the whole base. SQLite (the embedded default) has no
        bigrams stored and takes the newest citable articles."""
        stmt = select(
            KnowledgeArticle.id,
            KnowledgeArticle.version,
            KnowledgeArticle.question,
            KnowledgeArticle.keywords,
            KnowledgeArticle.unit_name,
            KnowledgeArticle.topic,
            func.substr(KnowledgeArticle.answer, 1, excerpt_chars).label("excerpt"),
        ).where(*citable(today))
        if self.session.get_bind().dialect.name == "postgresql":
            if not tagged:
                return []
            stmt = stmt.where(_overlaps(tagged))
        stmt = stmt.order_by(
            (KnowledgeArticle.topic == topic).desc(),
            KnowledgeArticle.published_at.desc(),
            KnowledgeArticle.id,
        ).limit(limit)
        return (await self.session.execute(stmt)).all()

    async def lock_issue(self, issue_id: uuid.UUID) -> None:
        """Lock the request's row (PostgreSQL) and reread it: its status may have moved while
        the caller waited for the lock."""
        stmt = select(Issue).where(Issue.id == issue_id).with_for_update()
        await self.session.execute(stmt.execution_options(populate_existing=True))

    async def answer_of(self, issue_id: uuid.UUID) -> KnowledgeAnswer | None:
        return await self.session.get(KnowledgeAnswer, issue_id)

    async def uses(self, first: date, last: date) -> Sequence[Row[uuid.UUID, int, str, str, str]]:
        """Answers given in the local days ``first``..``last``, per article, most used first."""
        stmt = (
            select(
                KnowledgeAnswer.article_id,
                func.count().label("answered"),
                KnowledgeArticle.question,
                KnowledgeArticle.unit_code,
                KnowledgeArticle.unit_name,
            )
            .join(KnowledgeArticle, KnowledgeArticle.id == KnowledgeAnswer.article_id, isouter=True)
            .where(*within_days(KnowledgeAnswer.answered_at, first, last))
            .group_by(
                KnowledgeAnswer.article_id,
                KnowledgeArticle.question,
                KnowledgeArticle.unit_code,
                KnowledgeArticle.unit_name,
            )
            .order_by(func.count().desc(), KnowledgeAnswer.article_id)
        )
        return (await self.session.execute(stmt)).all()
