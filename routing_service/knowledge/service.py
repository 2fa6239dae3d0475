"""The knowledge base (知识库): departments draft the answers they own, the center reviews and
publishes them, and intake keeps the published copy it searches.

An article's versions move draft → in_review → published; a reviewer sends a version back to
draft with a note, and may not approve a version they wrote. Editing a published article opens
a new draft version while the published one stays public; publishing the new one supersedes
it. Withdrawing takes the published version out of use. Publishing and withdrawing reach
intake through the outbox; every write is an event of the article's history.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.config import settings
from routing_service.department.repository import OrgUnitRepository
from routing_service.knowledge.exceptions import (
    ArticleAlreadyWithdrawn,
    ArticleDatesOutOfOrder,
    ArticleInReview,
    ArticleNotCitable,
    ArticleNotDraft,
    ArticleNotFound,
    ArticleNotInReview,
    ArticleNotPublished,
    ArticleOutOfScope,
    ArticleSelfApproval,
    ArticleUnitNotDepartment,
    ArticleUnitNotFound,
    VersionNotFound,
)
from routing_service.knowledge.repository import KnowledgeRepository
from routing_service.knowledge.schemas import (
    ArticleEventOut,
    ArticleFilters,
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    KnowledgeFiguresOut,
    ReviewIn,
    UnitFiguresOut,
    VersionOut,
    VersionStatus,
)
from routing_service.models import KnowledgeArticle, KnowledgeEvent, KnowledgeVersion, OrgUnit
from routing_service.webhook.service import webhook_service
from services.auth import Principal
from services.db import row_locks
from services.models import utcnow
from services.outbox import add_event
from services.pagination import Key, Keyset
from services.policy import in_scope, list_scope
from shared.calendar import SHANGHAI
from shared.enums import ArticleStatus, Topic, UnitKind
from shared.events import KnowledgeArticlePublished, KnowledgeArticleWithdrawn
from shared.webhooks import KnowledgeExpiringData

__all__ = ["ARTICLE_ORDER", "EXPIRING_EVENT", "KnowledgeService", "knowledge_service", "today"]

log = structlog.get_logger(__name__)

# Most recently changed first; the id breaks ties.
ARTICLE_ORDER = Keyset(
    (
        Key(KnowledgeArticle.updated_at, "datetime", descending=True),
        Key(KnowledgeArticle.id, "uuid", descending=True),
    )
)
EXPIRING_EVENT = "knowledge.article_expiring"
_EXPIRY_BATCH = 500


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _check_dates(valid_from: date | None, valid_until: date | None) -> None:
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        raise ArticleDatesOutOfOrder(
            details={"valid_from": valid_from.isoformat(), "valid_until": valid_until.isoformat()}
        )


def _valid_on(version: KnowledgeVersion, on: date) -> bool:
    return (version.valid_from is None or version.valid_from <= on) and (
        version.valid_until is None or version.valid_until >= on
    )


@dataclass(frozen=True, slots=True)
class Citation:
    """A published, valid version cited by a verification's direct answer."""

    article_id: uuid.UUID
    version: int
    question: str
    answer: str

    def note(self, own: str | None) -> str:
        """What the submitter is told: the verifier's own words, then the cited answer."""
        cited = f"【知识库答复】{self.question}\n{self.answer}"
        return f"{own}\n\n{cited}" if own else cited

    def history_data(self) -> dict[str, Any]:
        return {"article_id": str(self.article_id), "article_version": self.version}


class KnowledgeService:
    # ---------------------------------------------------------------- scope

    @staticmethod
    def may_write(principal: Principal, unit: OrgUnit) -> bool:
        """Departments their own unit's articles; centers those of the departments in their
        subtree; admins all (knowledge.write / knowledge.review decide the role)."""
        return in_scope(principal, unit.path)

    async def load(
        self, session: AsyncSession, principal: Principal, article_id: uuid.UUID,
        *, for_update: bool = False,
    ) -> tuple[KnowledgeArticle, OrgUnit]:  # fmt: skip
        """The article and its unit if the caller may read it: its own scope's articles in any
        state, anyone's once published. A not-found otherwise (existence hidden)."""
        repo = KnowledgeRepository(session)
        article = await repo.get(article_id, for_update=for_update)
        if article is None:
            raise ArticleNotFound()
        unit = (await repo.units([article.unit_id]))[article.unit_id]
        if not self.may_write(principal, unit) and article.published_version is None:
            raise ArticleNotFound()
        return article, unit

    async def _for_write(
        self, session: AsyncSession, principal: Principal, article_id: uuid.UUID
    ) -> tuple[KnowledgeArticle, OrgUnit]:
        article, unit = await self.load(session, principal, article_id, for_update=True)
        if not self.may_write(principal, unit):
            raise ArticleOutOfScope(details={"unit_code": unit.code})
        return article, unit

    async def _unit(self, session: AsyncSession, principal: Principal, code: str | None) -> OrgUnit:
        wanted = code or principal.unit_code
        unit = await OrgUnitRepository.from_session(session).get_by_code(wanted) if wanted else None
        if code is not None and (unit is None or not unit.active):
            raise ArticleUnitNotFound(details={"unit_code": code})
        if unit is None or unit.kind != UnitKind.department:
            # Centers name the department they write for; it must be one.
            raise ArticleUnitNotDepartment(details={"unit_code": wanted})
        if not self.may_write(principal, unit):
            raise ArticleOutOfScope(details={"unit_code": unit.code})
        return unit

    # ---------------------------------------------------------------- writes

    def _record(
        self, session: AsyncSession, article: KnowledgeArticle, *, version: int, actor: str,
        action: str, from_status: str | None = None, to_status: str | None = None,
        reason: str | None = None, data: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """Append one event to the article's history (the caller holds the article row)."""
        article.history_seq += 1
        session.add(
            KnowledgeEvent(
                article_id=article.id,
                seq=article.history_seq,
                version=version,
                actor=actor,
                action=action,
                from_status=from_status,
                to_status=to_status,
                reason=reason,
                data=data or {},
                at=utcnow(),
            )  # fmt: skip
        )

    async def create(
        self, session: AsyncSession, principal: Principal, body: ArticleIn
    ) -> KnowledgeArticle:
        unit = await self._unit(session, principal, body.unit_code)
        _check_dates(body.valid_from, body.valid_until)
        now = utcnow()
        article = KnowledgeArticle(
            id=uuid.uuid4(), unit_id=unit.id, topic=body.topic.value,
            status=ArticleStatus.draft.value, current_version=1, published_version=None,
            created_by=principal.actor, created_at=now, updated_at=now, history_seq=0,
        )  # fmt: skip
        session.add(article)
        session.add(
            KnowledgeVersion(
                id=uuid.uuid4(),
                article_id=article.id,
                version=1,
                question=body.question,
                answer=body.answer,
                keywords=list(dict.fromkeys(body.keywords)),
                legal_basis=body.legal_basis,
                valid_from=body.valid_from,
                valid_until=body.valid_until,
                status=VersionStatus.draft.value,
                written_by=principal.actor,
                authors=[principal.actor],
                created_at=now,
                updated_at=now,
            )  # fmt: skip
        )
        self._record(session, article, version=1, actor=principal.actor, action="created",
                     to_status=ArticleStatus.draft.value, data={"unit": unit.code})  # fmt: skip
        await session.flush()
        return article

    async def patch(
        self, session: AsyncSession, principal: Principal, article_id: uuid.UUID,
        body: ArticlePatch,
    ) -> KnowledgeArticle:  # fmt: skip
        article, _unit = await self._for_write(session, principal, article_id)
        repo = KnowledgeRepository(session)
        current = await repo.version(article.id, article.current_version)
        assert current is not None
        if current.status == VersionStatus.in_review.value:
            raise ArticleInReview(details={"version": current.version})
        fields = body.model_fields_set
        values: dict[str, Any] = {
            "question": current.question, "answer": current.answer,
            "keywords": list(current.keywords), "legal_basis": current.legal_basis,
            "valid_from": current.valid_from, "valid_until": current.valid_until,
        }  # fmt: skip
        for name in ("question", "answer", "keywords"):  # required: null leaves them
            if name in fields and getattr(body, name) is not None:
                value = getattr(body, name)
                values[name] = list(dict.fromkeys(value)) if name == "keywords" else value
        for name in ("legal_basis", "valid_from", "valid_until"):  # optional: null clears
            if name in fields:
                values[name] = getattr(body, name)
        _check_dates(values["valid_from"], values["valid_until"])
        changed = sorted(k for k, v in values.items() if v != getattr(current, k))
        topic = body.topic.value if body.topic is not None else article.topic
        if topic != article.topic:
            changed.append("topic")
        if not changed:
            return article
        now = utcnow()
        article.topic = topic
        if current.status == VersionStatus.draft.value:
            for name, value in values.items():
                setattr(current, name, value)
            if principal.actor not in current.authors:
                current.authors = [*current.authors, principal.actor]
            current.updated_at = now
            version, action = current.version, "edited"
        else:
            # Published, or withdrawn: the edit is a new draft; what is public stays as it is.
            version, action = article.current_version + 1, "new_version"
            session.add(
                KnowledgeVersion(
                    id=uuid.uuid4(),
                    article_id=article.id,
                    version=version,
                    status=VersionStatus.draft.value,
                    written_by=principal.actor,
                    authors=[principal.actor],
                    created_at=now,
                    updated_at=now,
                    **values,
                )  # fmt: skip
            )
            article.current_version = version
        before = article.status
        article.status = ArticleStatus.draft.value
        article.updated_at = now
        self._record(session, article, version=version, actor=principal.actor, action=action,
                     from_status=before, to_status=article.status,
                     data={"fields": changed})  # fmt: skip
        await session.flush()
        return article

    async def submit(
        self, session: AsyncSession, principal: Principal, article_id: uuid.UUID
    ) -> KnowledgeArticle:
        article, _unit = await self._for_write(session, principal, article_id)
        current = await KnowledgeRepository(session).version(article.id, article.current_version)
        assert current is not None
        if current.status != VersionStatus.draft.value:
            raise ArticleNotDraft(details={"version": current.version, "status": current.status})
        now = utcnow()
        current.status = VersionStatus.in_review.value
        current.submitted_by, current.submitted_at, current.updated_at = principal.actor, now, now
        article.status, article.updated_at = ArticleStatus.in_review.value, now
        self._record(session, article, version=current.version, actor=principal.actor,
                     action="submitted", from_status=ArticleStatus.draft.value,
                     to_status=article.status)  # fmt: skip
        await session.flush()
        return article

    async def review(
        self, session: AsyncSession, principal: Principal, article_id: uuid.UUID, body: ReviewIn
    ) -> KnowledgeArticle:
        article, unit = await self._for_write(session, principal, article_id)
        repo = KnowledgeRepository(session)
        current = await repo.version(article.id, article.current_version)
        assert current is not None
        if current.status != VersionStatus.in_review.value:
            raise ArticleNotInReview(details={"version": current.version, "status": current.status})
        if body.approve and principal.actor in current.authors:
            raise ArticleSelfApproval(details={"version": current.version})
        now = utcnow()
        current.reviewed_by, current.reviewed_at, current.review_note = (
            principal.actor,
            now,
            body.note,
        )
        current.updated_at = now
        data: dict[str, Any] = {}
        if body.approve:
            if article.published_version is not None:
                previous = await repo.version(article.id, article.published_version)
                if previous is not None and previous.status == VersionStatus.published.value:
                    previous.status = VersionStatus.superseded.value
                    previous.superseded_at = now
                    data["superseded"] = previous.version
            current.status, current.published_at = VersionStatus.published.value, now
            article.published_version = current.version
            article.status = ArticleStatus.published.value
            article.withdrawn_at = article.withdrawn_by = article.withdraw_reason = None
            add_event(
                session,
                KnowledgeArticlePublished(
                    article_id=article.id, version=current.version, question=current.question,
                    answer=current.answer, topic=Topic(article.topic), unit_code=unit.code,
                    unit_name=unit.name, keywords=list(current.keywords),
                    legal_basis=current.legal_basis, valid_from=current.valid_from,
                    valid_until=current.valid_until, published_at=now,
                ),
            )  # fmt: skip
        else:
            current.status = VersionStatus.draft.value
            article.status = ArticleStatus.draft.value
        article.updated_at = now
        self._record(session, article, version=current.version, actor=principal.actor,
                     action="approved" if body.approve else "sent_back",
                     from_status=ArticleStatus.in_review.value, to_status=article.status,
                     reason=body.note, data=data)  # fmt: skip
        await session.flush()
        return article

    async def withdraw(
        self, session: AsyncSession, principal: Principal, article_id: uuid.UUID, reason: str
    ) -> KnowledgeArticle:
        article, _unit = await self._for_write(session, principal, article_id)
        if article.published_version is None:
            if article.status == ArticleStatus.withdrawn.value:
                raise ArticleAlreadyWithdrawn()
            raise ArticleNotPublished(details={"status": article.status})
        published = await KnowledgeRepository(session).version(
            article.id, article.published_version
        )
        assert published is not None
        now = utcnow()
        published.status, published.withdrawn_at = VersionStatus.withdrawn.value, now
        published.updated_at = now
        before = article.status
        if article.current_version == published.version:
            article.status = ArticleStatus.withdrawn.value
        # A newer draft in the works stays; it can still be reviewed and published.
        article.published_version = None
        article.withdrawn_at, article.withdrawn_by, article.withdraw_reason = (
            now, principal.actor, reason,
        )  # fmt: skip
        article.updated_at = now
        self._record(session, article, version=published.version, actor=principal.actor,
                     action="withdrawn", from_status=before, to_status=article.status,
                     reason=reason)  # fmt: skip
        add_event(session, KnowledgeArticleWithdrawn(article_id=article.id, withdrawn_at=now))
        await session.flush()
        return article

    # ---------------------------------------------------------------- citation (verification)

    async def citable(self, session: AsyncSession, article_id: uuid.UUID) -> Citation:
        """The published version of an article valid today, for a verification to cite; a 422
        (``article_not_citable``) for one withdrawn, never published, expired or not yet valid."""
        repo = KnowledgeRepository(session)
        article = await repo.get(article_id)
        refused = {"article_id": str(article_id)}
        if article is None or article.published_version is None:
            why = "not_found" if article is None else article.status
            raise ArticleNotCitable(details={**refused, "reason": why})
        version = await repo.version(article.id, article.published_version)
        assert version is not None
        if not _valid_on(version, today()):
            raise ArticleNotCitable(
                details={**refused, "reason": "not_valid_today",
                         "valid_from": version.valid_from and version.valid_from.isoformat(),
                         "valid_until": version.valid_until and version.valid_until.isoformat()}
            )  # fmt: skip
        return Citation(article.id, version.version, version.question, version.answer)

    # ---------------------------------------------------------------- expiry

    async def warn_expiring(self, session: AsyncSession, *, on: date | None = None) -> int:
        """Tell each owning unit (``knowledge.article_expiring``) about its published versions
        whose validity ends within the warning window — once per version (``warned_at``).
        Returns how many were warned; the caller commits."""
        on = on or today()
        horizon = on + timedelta(days=settings.knowledge_expiry_warning_days)
        stmt = (
            select(KnowledgeVersion, KnowledgeArticle, OrgUnit)
            .join(KnowledgeArticle, KnowledgeArticle.id == KnowledgeVersion.article_id)
            .join(OrgUnit, OrgUnit.id == KnowledgeArticle.unit_id)
            .where(
                KnowledgeVersion.status == VersionStatus.published.value,
                KnowledgeVersion.valid_until.is_not(None),
                KnowledgeVersion.valid_until <= horizon,
                KnowledgeVersion.warned_at.is_(None),
            )
            .order_by(KnowledgeVersion.valid_until, KnowledgeVersion.id)
            .limit(_EXPIRY_BATCH)
        )
        if row_locks(session):
            # Two workers never warn about the same version.
            stmt = stmt.with_for_update(of=KnowledgeVersion, skip_locked=True)
        rows = (await session.execute(stmt)).all()
        now = utcnow()
        for version, article, unit in rows:
            assert version.valid_until is not None
            await webhook_service.notify_unit(
                session, unit.id, EXPIRING_EVENT,
                KnowledgeExpiringData(article_id=article.id, version=version.version,
                                      question=version.question, unit_code=unit.code,
                                      valid_until=version.valid_until),
            )  # fmt: skip
            version.warned_at = now
            self._record(session, article, version=version.version, actor="system",
                         action="expiry_warned",
                         data={"valid_until": version.valid_until.isoformat()})  # fmt: skip
        await session.flush()
        return len(rows)

    # ---------------------------------------------------------------- reads

    def list_statement(self, principal: Principal, filters: ArticleFilters) -> Select[Any]:
        stmt = select(KnowledgeArticle).join(OrgUnit, OrgUnit.id == KnowledgeArticle.unit_id)
        scope = list_scope(principal)
        published = KnowledgeArticle.published_version.is_not(None)
        if scope.own_unit_code is not None:
            stmt = stmt.where(or_(OrgUnit.code == scope.own_unit_code, published))
        elif scope.subtree is not None:
            stmt = stmt.where(
                or_(OrgUnit.path.startswith(scope.subtree, autoescape=True), published)
            )
        if filters.status:
            stmt = stmt.where(KnowledgeArticle.status.in_([s.value for s in filters.status]))
        if filters.topic:
            stmt = stmt.where(KnowledgeArticle.topic.in_([t.value for t in filters.topic]))
        if filters.unit:
            stmt = stmt.where(OrgUnit.code == filters.unit)
        if filters.expiring_within_days is not None:
            horizon = today() + timedelta(days=filters.expiring_within_days)
            ending = select(KnowledgeVersion.id).where(
                KnowledgeVersion.article_id == KnowledgeArticle.id,
                KnowledgeVersion.version == KnowledgeArticle.published_version,
                KnowledgeVersion.status == VersionStatus.published.value,
                KnowledgeVersion.valid_until <= horizon,
            )
            stmt = stmt.where(ending.exists())
        return stmt

    def _visible(
        self, principal: Principal, unit: OrgUnit, versions: Sequence[KnowledgeVersion]
    ) -> list[KnowledgeVersion]:
        """Outside the owner's scope only what was ever published is readable."""
        if self.may_write(principal, unit):
            return list(versions)
        return [v for v in versions if v.published_at is not None]

    async def out(
        self, session: AsyncSession, principal: Principal, articles: Sequence[KnowledgeArticle]
    ) -> list[ArticleOut]:
        repo = KnowledgeRepository(session)
        units = await repo.units({a.unit_id for a in articles})
        wanted = {(a.id, a.current_version) for a in articles}
        wanted |= {(a.id, a.published_version) for a in articles if a.published_version}
        versions = await repo.versions_of(wanted)
        out = []
        for a in articles:
            unit = units[a.unit_id]
            current = versions[(a.id, a.current_version)]
            published = versions.get((a.id, a.published_version)) if a.published_version else None
            if not self.may_write(principal, unit) and current.published_at is None:
                current = published or current  # only listed when it has a published version
            out.append(self._out(a, unit, current, published))
        return out

    async def detail(
        self, session: AsyncSession, principal: Principal, article: KnowledgeArticle, unit: OrgUnit
    ) -> tuple[ArticleOut, list[VersionOut], list[ArticleEventOut]]:
        repo = KnowledgeRepository(session)
        versions = self._visible(principal, unit, await repo.versions(article.id))
        by_number = {v.version: v for v in versions}
        published = by_number.get(article.published_version) if article.published_version else None
        current = by_number.get(article.current_version) or published or versions[-1]
        events = await repo.events(article.id) if self.may_write(principal, unit) else []
        return (
            self._out(article, unit, current, published),
            [self.version_out(v) for v in versions],
            [ArticleEventOut.model_validate(e) for e in events],
        )

    async def version(
        self, session: AsyncSession, principal: Principal, article: KnowledgeArticle,
        unit: OrgUnit, number: int,
    ) -> VersionOut:  # fmt: skip
        found = await KnowledgeRepository(session).version(article.id, number)
        if found is None or not self._visible(principal, unit, [found]):
            raise VersionNotFound(details={"version": number})
        return self.version_out(found)

    @staticmethod
    def version_out(v: KnowledgeVersion) -> VersionOut:
        status = VersionStatus(v.status)
        return VersionOut(
            version=v.version, status=status, status_label=status.label_zh, question=v.question,
            answer=v.answer, keywords=list(v.keywords), legal_basis=v.legal_basis,
            valid_from=v.valid_from, valid_until=v.valid_until, written_by=v.written_by,
            authors=list(v.authors), created_at=v.created_at, updated_at=v.updated_at,
            submitted_by=v.submitted_by, submitted_at=v.submitted_at, reviewed_by=v.reviewed_by,
            reviewed_at=v.reviewed_at, review_note=v.review_note, published_at=v.published_at,
            superseded_at=v.superseded_at, withdrawn_at=v.withdrawn_at, warned_at=v.warned_at,
        )  # fmt: skip

    def _out(
        self, a: KnowledgeArticle, unit: OrgUnit, current: KnowledgeVersion,
        published: KnowledgeVersion | None,
    ) -> ArticleOut:  # fmt: skip
        status, topic = ArticleStatus(a.status), Topic(a.topic)
        return ArticleOut(
            id=a.id, unit_code=unit.code, unit_name=unit.name, topic=topic,
            topic_label=topic.label_zh, status=status, status_label=status.label_zh,
            current_version=a.current_version, published_version=a.published_version,
            current=self.version_out(current),
            published=self.version_out(published) if published is not None else None,
            created_by=a.created_by, created_at=a.created_at, updated_at=a.updated_at,
            withdrawn_at=a.withdrawn_at, withdrawn_by=a.withdrawn_by,
            withdraw_reason=a.withdraw_reason,
        )  # fmt: skip

    async def figures(self, session: AsyncSession, principal: Principal) -> KnowledgeFiguresOut:
        """Per department in the caller's scope: articles published, versions in review,
        published versions ending within the warning window, and those past their end."""
        on = today()
        horizon = on + timedelta(days=settings.knowledge_expiry_warning_days)
        units = select(OrgUnit).where(OrgUnit.kind == UnitKind.department.value)
        scope = list_scope(principal)
        if scope.own_unit_code is not None:
            units = units.where(OrgUnit.code == scope.own_unit_code)
        elif scope.subtree is not None:
            units = units.where(OrgUnit.path.startswith(scope.subtree, autoescape=True))
        departments = list((await session.scalars(units.order_by(OrgUnit.code))).all())
        live = KnowledgeVersion.status == VersionStatus.published.value
        until = KnowledgeVersion.valid_until
        stmt = (
            select(
                KnowledgeArticle.unit_id,
                func.count().filter(live),
                func.count().filter(KnowledgeVersion.status == VersionStatus.in_review.value),
                func.count().filter(and_(live, until >= on, until <= horizon)),
                func.count().filter(and_(live, until < on)),
            )
            .join(KnowledgeVersion, KnowledgeVersion.article_id == KnowledgeArticle.id)
            .where(
                KnowledgeArticle.unit_id.in_([u.id for u in departments]),
                KnowledgeVersion.status.in_(
                    (VersionStatus.published.value, VersionStatus.in_review.value)
                ),
            )
            .group_by(KnowledgeArticle.unit_id)
        )
        counts: Mapping[uuid.UUID, Sequence[int]] = (
            {row[0]: row[1:] for row in (await session.execute(stmt)).all()} if departments else {}
        )
        none = (0, 0, 0, 0)
        return KnowledgeFiguresOut(
            on=on,
            expiring_window_days=settings.knowledge_expiry_warning_days,
            units=[
                UnitFiguresOut(unit_code=u.code, unit_name=u.name,
                               **dict(zip(("published", "in_review", "expiring", "expired"),
                                          counts.get(u.id, none), strict=True)))
                for u in departments
            ],
        )  # fmt: skip


knowledge_service = KnowledgeService()
