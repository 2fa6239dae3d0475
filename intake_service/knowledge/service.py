"""The knowledge base on intake's side: published articles kept from routing's events, the
public search, the articles offered on a consultation's receipt, and "this solved it"."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.config import settings
from intake_service.knowledge.exceptions import (
    AlreadyAnswered,
    ArticleNotCitable,
    NotAConsultation,
    RequestPastAnswering,
)
from intake_service.knowledge.repository import SEARCH_FIELDS, TIER_NAMES, KnowledgeRepository
from intake_service.knowledge.schemas import (
    EXCERPT_CHARS,
    ArticleBrief,
    ArticleHit,
    ArticleOut,
    ArticleUse,
    KnowledgeFiguresOut,
    Tier,
)
from intake_service.models import Issue, IssueHistory, KnowledgeAnswer, KnowledgeArticle
from services.db import add_locked, locked_row
from services.models import utcnow
from services.outbox import add_event
from services.search import SearchQuery, field_grams, grams, normalize
from shared.calendar import SHANGHAI
from shared.enums import ArticleStatus, RequestStatus, RequestType, Topic
from shared.events import (
    KnowledgeArticlePublished,
    KnowledgeArticleWithdrawn,
    RequestAnsweredByKnowledge,
)

# A consultation may still be closed from the knowledge base until routing has decided on it.
ANSWERABLE = frozenset({RequestStatus.received.value, RequestStatus.verifying.value})
MAX_OFFERED = 3
# The request's bigrams a receipt's candidate query names: each is one probe of the GIN index,
# so a 5,000-character description costs what its first few sentences cost.
MAX_QUERY_GRAMS = 160


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def keywords_text(keywords: Sequence[str]) -> str:
    return " ".join(keywords)


def article_grams(article: KnowledgeArticle) -> list[str]:
    tiers = {"question": [article.question], "keywords_text": list(article.keywords),
             "answer": [article.answer]}  # fmt: skip
    return field_grams(*([text for name in tier for text in tiers[name]] for tier in SEARCH_FIELDS))


def ordered_grams(*texts: str, cap: int) -> list[str]:
    """The distinct bigrams of the texts in the order they appear, at most ``cap``."""
    found: dict[str, None] = {}
    for text in texts:
        clean = normalize(text)
        for i in range(len(clean) - 1):
            found.setdefault(clean[i : i + 2])
            if len(found) >= cap:
                return list(found)
    return list(found)


def excerpt(answer: str) -> str:
    flat = " ".join(answer.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def article_out(article: KnowledgeArticle) -> ArticleOut:
    assert article.published_at is not None  # citable rows are published
    return ArticleOut(
        id=article.id, version=article.version, question=article.question, answer=article.answer,
        topic=Topic(article.topic), topic_label=Topic(article.topic).label_zh,
        unit_code=article.unit_code, unit_name=article.unit_name, keywords=list(article.keywords),
        legal_basis=article.legal_basis, valid_from=article.valid_from,
        valid_until=article.valid_until, published_at=article.published_at,
    )  # fmt: skip


def _matched_in(article: KnowledgeArticle, query: SearchQuery) -> Tier:
    """The tier that found the article, by the substring test the SQL confirms with."""
    fields = (article.question, article.keywords_text, article.answer)
    needle = query.text.casefold() if query.cased else query.text
    for name, value in zip(TIER_NAMES, fields, strict=True):
        if needle in (value.casefold() if query.cased else value):
            return name
    return TIER_NAMES[-1]


class KnowledgeService:
    # --- routing's events ------------------------------------------------------------------

    async def apply_published(
        self, session: AsyncSession, event: KnowledgeArticlePublished
    ) -> None:
        """Keep the newest published version; an older one arriving late changes nothing, nor
        does a publication older than a withdrawal already seen."""
        article = await locked_row(session, KnowledgeArticle, event.article_id)
        if article is not None:
            if event.version <= article.version:
                return
            if article.withdrawn_at is not None and event.published_at <= article.withdrawn_at:
                return
        else:
            article = KnowledgeArticle(id=event.article_id)
            add_locked(session, article, event.article_id)
        article.version = event.version
        article.status = ArticleStatus.published.value
        article.question = event.question
        article.answer = event.answer
        article.topic = event.topic.value
        article.unit_code = event.unit_code
        article.unit_name = event.unit_name
        article.keywords = list(event.keywords)
        article.keywords_text = keywords_text(event.keywords)
        article.legal_basis = event.legal_basis
        article.valid_from = event.valid_from
        article.valid_until = event.valid_until
        article.published_at = event.published_at
        article.withdrawn_at = None
        article.updated_at = utcnow()
        article.search_grams = article_grams(article)

    async def apply_withdrawn(
        self, session: AsyncSession, event: KnowledgeArticleWithdrawn
    ) -> None:
        """Out of search at once. A withdrawal older than the version held (that version was
        published after it) changes nothing; one that arrives before any publication leaves a
        placeholder, so the late publication it withdrew stays out."""
        article = await locked_row(session, KnowledgeArticle, event.article_id)
        if article is None:
            article = KnowledgeArticle(
                id=event.article_id, version=0, question="", answer="", topic=Topic.other.value,
                unit_code="", unit_name="", keywords=[], keywords_text="",
            )  # fmt: skip
            add_locked(session, article, event.article_id)
        elif article.published_at is not None and event.withdrawn_at < article.published_at:
            return
        if article.withdrawn_at is not None and article.withdrawn_at >= event.withdrawn_at:
            return
        article.status = ArticleStatus.withdrawn.value
        article.withdrawn_at = event.withdrawn_at
        article.updated_at = utcnow()
        article.search_grams = None

    # --- public reads --------------------------------------------------------------------

    async def search(
        self, session: AsyncSession, query: SearchQuery | None, topic: Topic | None, limit: int
    ) -> list[ArticleHit]:
        rows = await KnowledgeRepository.from_session(session).search(
            query, topic.value if topic else None, today(), limit
        )
        return [
            ArticleHit(
                **article_out(row).model_dump(),
                matched_in=_matched_in(row, query) if query else None,
            )
            for row in rows
        ]

    async def offered(
        self, session: AsyncSession, *, type_: str, topic: str, title: str, description: str
    ) -> list[ArticleBrief]:
        """The up to three citable articles that best match a consultation (none for any other
        type): candidates sharing a bigram with the request's title and description in their
        question or keywords, same topic first; offered when the request covers enough of the
        article's question and keywords, best cover first."""
        if type_ != RequestType.consult.value:
            return []
        wanted = ordered_grams(title, description, cap=MAX_QUERY_GRAMS)
        tagged = [f"{tier}{gram}" for tier in (0, 1) for gram in wanted]
        rows = await KnowledgeRepository.from_session(session).candidates(
            tagged, topic, today(), settings.knowledge_candidates, EXCERPT_CHARS + 1
        )
        request = set(grams(title, description))
        scored: list[tuple[bool, float, int, ArticleBrief]] = []
        for position, row in enumerate(rows):
            own = set(grams(row.question, *row.keywords))
            shared = len(own & request)
            if not own or shared < 2:
                continue
            cover = shared / len(own)
            if cover < settings.knowledge_match_min:
                continue
            brief = ArticleBrief(id=row.id, version=row.version, question=row.question,
                                 excerpt=excerpt(row.excerpt or ""), unit_name=row.unit_name)  # fmt: skip
            # Candidates come newest first within a topic: position breaks ties.
            scored.append((row.topic == topic, cover, -position, brief))
        scored.sort(key=lambda item: item[:3], reverse=True)
        return [brief for *_, brief in scored[:MAX_OFFERED]]

    async def offered_for(self, session: AsyncSession, issue: Issue) -> list[ArticleBrief]:
        return await self.offered(session, type_=issue.type, topic=issue.topic,
                                  title=issue.title, description=issue.description)  # fmt: skip

    # --- "this solved it" --------------------------------------------------------------------

    async def answer(self, session: AsyncSession, issue: Issue, article_id: uuid.UUID) -> bool:
        """Close a consultation with a published answer. Returns False when it was already
        closed with this article (nothing changes), True when it is closed now."""
        repository = KnowledgeRepository.from_session(session)
        # Two taps at once: the second waits here, then finds the first one's answer.
        await repository.lock_issue(issue.id)
        earlier = await repository.answer_of(issue.id)
        if earlier is not None:
            if earlier.article_id == article_id:
                return False
            raise AlreadyAnswered(details={"article_id": str(earlier.article_id)})
        if issue.type != RequestType.consult.value:
            raise NotAConsultation()
        if issue.status not in ANSWERABLE:
            raise RequestPastAnswering(details={"status": issue.status})
        article = await repository.citable(article_id, today())
        if article is None:
            raise ArticleNotCitable(details={"article_id": str(article_id)})
        now = utcnow()
        note = f"提交人确认已由知识库解答:《{article.question}》(第 {article.version} 版)"
        issue.status = RequestStatus.answered.value
        issue.status_note = note
        issue.status_changed_at = now
        issue.updated_at = now
        session.add(IssueHistory(issue_id=issue.id, status=issue.status, note=note, at=now))
        session.add(
            KnowledgeAnswer(
                issue_id=issue.id, article_id=article.id, version=article.version, answered_at=now
            )
        )
        add_event(
            session,
            RequestAnsweredByKnowledge(
                request_id=issue.id,
                tracking_no=issue.tracking_no,
                article_id=article.id,
                version=article.version,
                answered_at=now,
            ),  # fmt: skip
        )
        return True

    # --- staff figures -------------------------------------------------------------------

    async def figures(self, session: AsyncSession, start: date, end: date) -> KnowledgeFiguresOut:
        rows = await KnowledgeRepository.from_session(session).uses(start, end)
        by_article = [
            ArticleUse(
                article_id=row.article_id,
                question=row.question or "",
                unit_code=row.unit_code or "",
                unit_name=row.unit_name or "",
                answered=int(row.answered),
            )  # fmt: skip
            for row in rows
        ]
        return KnowledgeFiguresOut(
            start=start, end=end, answered=sum(use.answered for use in by_article),
            articles_used=len(by_article), by_article=by_article,
        )  # fmt: skip


knowledge_service = KnowledgeService()
