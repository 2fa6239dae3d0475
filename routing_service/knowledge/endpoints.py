"""The knowledge base (知识库) at ``/v1/knowledge``: departments draft the answers they own,
the center reviews and publishes them; intake searches the published copy for the public."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from routing_service.auth import CurrentPrincipal
from routing_service.knowledge.schemas import (
    ArticleDetailOut,
    ArticleFilters,
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    KnowledgeFiguresOut,
    ReviewIn,
    VersionOut,
    WithdrawIn,
)
from routing_service.knowledge.service import ARTICLE_ORDER, knowledge_service
from routing_service.models import KnowledgeArticle
from services.auth import Principal
from services.db import SessionDep
from services.errors import error_responses
from services.pagination import query_fingerprint, read_page
from services.policy import authorize
from services.responses import set_location
from shared.schemas.page import CursorPage

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])


async def _one(session: SessionDep, principal: Principal, article: KnowledgeArticle) -> ArticleOut:
    return (await knowledge_service.out(session, principal, [article]))[0]


@router.get(
    "/articles",
    response_model=CursorPage[ArticleOut],
    responses=error_responses(400, 401, 403, 422),
    summary="Knowledge articles: filter by status, unit, topic or expiry",
)
async def list_articles(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[ArticleFilters, Query()],
) -> CursorPage[ArticleOut]:
    """Articles most recently changed first (knowledge.read): those of the departments in the
    caller's scope in every state (a department its own unit's), and every published one.
    `expiring_within_days` keeps those whose published version ends within that many days
    (expired ones included). Cursor pages: pass `next_cursor` back as `cursor`;
    `with_total=true` adds a count."""
    authorize(principal, "knowledge.read")
    rows, next_cursor, total = await read_page(
        session, knowledge_service.list_statement(principal, filters), ARTICLE_ORDER,
        cursor=filters.cursor, limit=filters.limit,
        fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
        with_total=filters.with_total,
    )  # fmt: skip
    return CursorPage[ArticleOut](
        items=await knowledge_service.out(session, principal, rows),
        next_cursor=next_cursor, limit=filters.limit, total=total,
    )  # fmt: skip


@router.post(
    "/articles",
    status_code=status.HTTP_201_CREATED,
    response_model=ArticleOut,
    responses=error_responses(401, 403, 422),
    summary="Draft an article (version 1) for a department",
)
async def create_article(
    body: ArticleIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ArticleOut:
    """Draft a question and its answer for a department (knowledge.write): department staff
    for their own unit (the default `unit_code`), center staff for the departments of their
    subtree. The answer is plain text, kept exactly as written. `valid_until` may not be before
    `valid_from`. Answers 201 with `Location`."""
    authorize(principal, "knowledge.write")
    article = await knowledge_service.create(session, principal, body)
    set_location(response, request, "get_article", article_id=article.id)
    return await _one(session, principal, article)


@router.get(
    "/articles/{article_id}",
    response_model=ArticleDetailOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One article with its versions and history",
)
async def get_article(
    article_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ArticleDetailOut:
    """One article (knowledge.read) with every version, oldest first, and its history (who
    wrote, submitted, approved, sent back, withdrew). Outside the owning department's scope
    only the versions ever published are shown, and no history."""
    authorize(principal, "knowledge.read")
    article, unit = await knowledge_service.load(session, principal, article_id)
    out, versions, history = await knowledge_service.detail(session, principal, article, unit)
    return ArticleDetailOut(**out.model_dump(), versions=versions, history=history)


@router.get(
    "/articles/{article_id}/versions/{version}",
    response_model=VersionOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One version of an article",
)
async def get_article_version(
    article_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=100_000)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> VersionOut:
    """One version, old ones included (knowledge.read; outside the owner's scope, published
    ones only)."""
    authorize(principal, "knowledge.read")
    article, unit = await knowledge_service.load(session, principal, article_id)
    return await knowledge_service.version(session, principal, article, unit, version)


@router.patch(
    "/articles/{article_id}",
    response_model=ArticleOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Edit the draft (editing a published article opens a new version)",
)
async def patch_article(
    article_id: uuid.UUID, body: ArticlePatch, session: SessionDep, principal: CurrentPrincipal
) -> ArticleOut:
    """Edit the current draft (knowledge.write, in scope). On a published (or withdrawn)
    article the edit opens a new draft version; the published one stays public until the new
    one is published. A version in review cannot be edited (409 `article_in_review`)."""
    authorize(principal, "knowledge.write")
    article = await knowledge_service.patch(session, principal, article_id, body)
    return await _one(session, principal, article)


@router.post(
    "/articles/{article_id}/submit",
    response_model=ArticleOut,
    responses=error_responses(401, 403, 404, 409),
    summary="Submit the draft for the center's review",
)
async def submit_article(
    article_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ArticleOut:
    """The current draft goes to review (knowledge.write, in scope); it cannot be edited until
    it is reviewed. Only a draft can be submitted (409 `article_not_draft`)."""
    authorize(principal, "knowledge.write")
    article = await knowledge_service.submit(session, principal, article_id)
    return await _one(session, principal, article)


@router.post(
    "/articles/{article_id}/review",
    response_model=ArticleOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Approve (publish) or send back the version in review",
)
async def review_article(
    article_id: uuid.UUID, body: ReviewIn, session: SessionDep, principal: CurrentPrincipal
) -> ArticleOut:
    """Supervisors, leaders and admins (knowledge.review, in scope). Approving publishes the
    version (the previously published one is superseded) and tells intake; sending back
    returns it to draft with the note. Nobody approves a version they wrote (403
    `article_self_approval`); a version not in review is 409 `article_not_in_review`."""
    authorize(principal, "knowledge.review")
    article = await knowledge_service.review(session, principal, article_id, body)
    return await _one(session, principal, article)


@router.post(
    "/articles/{article_id}/withdraw",
    response_model=ArticleOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Withdraw the published version",
)
async def withdraw_article(
    article_id: uuid.UUID, body: WithdrawIn, session: SessionDep, principal: CurrentPrincipal
) -> ArticleOut:
    """Take the published version out of use, with a reason (knowledge.review, in scope);
    intake removes it from search and it can no longer be cited. 409
    `article_already_withdrawn` / `article_not_published` when there is nothing to withdraw."""
    authorize(principal, "knowledge.review")
    article = await knowledge_service.withdraw(session, principal, article_id, body.reason)
    return await _one(session, principal, article)


@router.get(
    "/figures",
    response_model=KnowledgeFiguresOut,
    responses=error_responses(401, 403),
    summary="Per department: published, in review, expiring and expired answers",
)
async def knowledge_figures(
    session: SessionDep, principal: CurrentPrincipal
) -> KnowledgeFiguresOut:
    """For each department in the caller's scope (knowledge.read): articles published,
    versions waiting for review, published versions ending within the warning window (30 days
    by default; the department is told by webhook) and those still published past their last
    valid day."""
    authorize(principal, "knowledge.read")
    return await knowledge_service.figures(session, principal)
