"""Reads and locks of knowledge articles, their versions and history."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import KnowledgeArticle, KnowledgeEvent, KnowledgeVersion, OrgUnit
from services.db import row_locks


class KnowledgeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, article_id: uuid.UUID, *, for_update: bool = False
    ) -> KnowledgeArticle | None:
        stmt = select(KnowledgeArticle).where(KnowledgeArticle.id == article_id)
        if for_update and row_locks(self.session):
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def version(self, article_id: uuid.UUID, version: int) -> KnowledgeVersion | None:
        return await self.session.scalar(
            select(KnowledgeVersion).where(
                KnowledgeVersion.article_id == article_id, KnowledgeVersion.version == version
            )
        )

    async def versions(self, article_id: uuid.UUID) -> list[KnowledgeVersion]:
        rows = await self.session.scalars(
            select(KnowledgeVersion)
            .where(KnowledgeVersion.article_id == article_id)
            .order_by(KnowledgeVersion.version)
        )
        return list(rows.all())

    async def versions_of(
        self, wanted: Collection[tuple[uuid.UUID, int]]
    ) -> dict[tuple[uuid.UUID, int], KnowledgeVersion]:
        """Several articles' versions in one read, by (article id, version)."""
        pairs = set(wanted)
        if not pairs:
            return {}
        rows = await self.session.scalars(
            select(KnowledgeVersion).where(
                tuple_(KnowledgeVersion.article_id, KnowledgeVersion.version).in_(pairs)
            )
        )
        return {(v.article_id, v.version): v for v in rows}

    async def events(self, article_id: uuid.UUID) -> list[KnowledgeEvent]:
        rows = await self.session.scalars(
            select(KnowledgeEvent)
            .where(KnowledgeEvent.article_id == article_id)
            .order_by(KnowledgeEvent.seq)
        )
        return list(rows.all())

    async def units(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, OrgUnit]:
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(wanted)))
        return {row.id: row for row in rows}
