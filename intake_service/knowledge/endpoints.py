"""The knowledge base in public (知识库): search and read published answers, close a
consultation with one; and the staff figures of the answers used."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Self

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ConfigDict, Field, model_validator

from intake_service.config import settings
from intake_service.issue.dependencies import OwnedIssue
from intake_service.issue.endpoints import public_view
from intake_service.issue.repository import IssueRepository
from intake_service.issue.schemas import IssuePublic
from intake_service.knowledge.exceptions import ArticleNotFound
from intake_service.knowledge.repository import KnowledgeRepository
from intake_service.knowledge.schemas import (
    ArticleOut,
    KnowledgeAnswerIn,
    KnowledgeFiguresOut,
    KnowledgeSearchOut,
)
from intake_service.knowledge.service import article_out, knowledge_service, today
from services.auth import BearerPrincipal
from services.db import SessionDep
from services.errors import error_responses
from services.filters import check_forwards
from services.policy import authorize
from services.ratelimit import RatePolicy, client_ip, hit
from services.search import parse_query
from shared.enums import Topic
from shared.schemas.base import Schema

router = APIRouter(prefix="/v1")

MAX_FIGURE_DAYS = 3 * 365 + 1


async def knowledge_rate(request: Request) -> None:
    """Public reads of the knowledge base, counted per IP."""
    policy = RatePolicy("knowledge", settings.rate_knowledge_per_ip, window_seconds=60)
    await hit(request, policy, f"ip:{client_ip(request)}")


class SearchParams(Schema):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None, max_length=200,
        description="Chinese substring search over question, keywords and answer (ranked in "
        "that order, newest first within each); 2–50 characters. Omit for the newest answers",
    )  # fmt: skip
    topic: Topic | None = None
    limit: int = Field(10, ge=1, le=50)


@router.get(
    "/knowledge/search",
    response_model=KnowledgeSearchOut,
    responses=error_responses(422, 429),
    summary="Search the published answers (知识库检索)",
    tags=["knowledge"],
    dependencies=[Depends(knowledge_rate)],
)
async def search_knowledge(
    session: SessionDep, params: Annotated[SearchParams, Query()]
) -> KnowledgeSearchOut:
    """Published answers valid today (Asia/Shanghai), for anyone (the smart hall shows them
    before a request is filed): `q` is found in the question first, then the keywords, then
    the answer, newest first within each; `topic` narrows. Answers are plain text. Rate
    limited per IP."""
    query = parse_query(params.q)
    items = await knowledge_service.search(session, query, params.topic, params.limit)
    return KnowledgeSearchOut(q=query.text if query else None, topic=params.topic, items=items)


@router.get(
    "/knowledge/articles/{article_id}",
    response_model=ArticleOut,
    responses=error_responses(404, 422, 429),
    summary="One published answer (知识库文章)",
    tags=["knowledge"],
    dependencies=[Depends(knowledge_rate)],
)
async def get_knowledge_article(article_id: uuid.UUID, session: SessionDep) -> ArticleOut:
    """A published article valid today, for anyone; a draft, withdrawn or expired one is 404
    like an unknown id. The answer is plain text. Rate limited per IP."""
    article = await KnowledgeRepository.from_session(session).citable(article_id, today())
    if article is None:
        raise ArticleNotFound()
    return article_out(article)


@router.post(
    "/requests/{tracking_no}/knowledge-answer",
    response_model=IssuePublic,
    responses=error_responses(404, 409, 422, 429),
    summary="The submitter says a published answer solved the consultation (知识库已解答)",
    tags=["knowledge"],
)
async def answer_from_knowledge(
    issue: OwnedIssue, data: KnowledgeAnswerIn, session: SessionDep
) -> IssuePublic:
    """The submitter (X-Tracking-Secret or X-Submitter-Phone) of a consultation still received
    or in verification closes it with a published, valid article: the request is answered by
    the knowledge base and routing and scoring are told. The same call again is 200 and changes
    nothing; another article afterwards is 409, as is a request already past verification; a
    request that is no consultation, or an article not published or not valid today, is 422."""
    await knowledge_service.answer(session, issue, data.article_id)
    await session.flush()
    reloaded = await IssueRepository.from_session(session).get_by_tracking_no(
        issue.tracking_no, with_history=True, refresh=True
    )
    assert reloaded is not None
    return await public_view(session, reloaded)


class FigureParams(Schema):
    model_config = ConfigDict(extra="forbid")

    # Bounded years: the period's end + 1 day must still be a date (9999-12-31 has none).
    start: date = Field(
        description="First day (Asia/Shanghai)", ge=date(2000, 1, 1), le=date(2999, 12, 31)
    )
    end: date = Field(
        description="Last day (Asia/Shanghai), inclusive",
        ge=date(2000, 1, 1),
        le=date(2999, 12, 31),
    )

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        check_forwards(self, ("start", "end"))
        if (self.end - self.start).days + 1 > MAX_FIGURE_DAYS:
            raise ValueError(f"at most {MAX_FIGURE_DAYS} days")
        return self


@router.get(
    "/staff/knowledge/figures",
    response_model=KnowledgeFiguresOut,
    responses=error_responses(401, 403, 422),
    summary="Consultations answered from the knowledge base, by article (staff)",
    tags=["staff"],
)
async def knowledge_figures(
    session: SessionDep, principal: BearerPrincipal, params: Annotated[FigureParams, Query()]
) -> KnowledgeFiguresOut:
    """How many consultations their submitters closed with a published answer in the days
    `start`..`end`, and which articles answered them, most used first. Center staff, auditors
    and admins (bearer token)."""
    authorize(principal, "knowledge.figures")
    return await knowledge_service.figures(session, params.start, params.end)
