"""Closing a month (关账): its scorecards are frozen, so later fact changes (a redo that clears
an approval, a late rating, a policy set for a past month) no longer move them.

A closed month is served from its newest version. Only an explicit recompute, with a reason,
stores a new version from the facts as they are then; every version is kept as history.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.evaluation import schemas
from scoring_service.evaluation.exceptions import (
    MonthAlreadyClosed,
    MonthNotClosed,
    MonthNotFinished,
    ReasonRequired,
)
from scoring_service.evaluation.repository import ClosingRepository
from scoring_service.evaluation.service import Month, evaluation_service
from scoring_service.models import MonthlyScorecardClose, MonthlyScorecardSnapshot
from services.auth import Principal
from services.models import utcnow

__all__ = ["MonthClosingService", "month_closing_service"]

log = structlog.get_logger(__name__)


def _version_out(
    close: MonthlyScorecardClose, current: int, scores: dict[str, float | None]
) -> schemas.MonthVersion:
    return schemas.MonthVersion(
        version=close.version,
        action="recompute" if close.action == "recompute" else "close",
        reason=close.reason,
        closed_by=close.closed_by,
        closed_at=close.closed_at,
        current=close.version == current,
        scores=scores,
    )


class MonthClosingService:
    async def close(
        self,
        session: AsyncSession,
        principal: Principal,
        month: Month,
        *,
        now: datetime | None = None,
    ) -> schemas.MonthVersion:
        """Freeze the month's scorecards as version 1. Only a month that has ended may close:
        before its end its cards are still being dispatched and rated."""
        now = now or utcnow()
        if month.end > now:
            raise MonthNotFinished(details={"month": str(month)})
        repository = ClosingRepository.from_session(session)
        if await repository.current(str(month)) is not None:
            raise MonthAlreadyClosed(details={"month": str(month)})
        return await self._store(session, principal, month, 1, "close", None, now)

    async def recompute(
        self,
        session: AsyncSession,
        principal: Principal,
        month: Month,
        body: schemas.MonthRecompute | None,
        *,
        now: datetime | None = None,
    ) -> schemas.MonthVersion:
        """Recompute a closed month from the facts as they are now, as a new version."""
        reason = body.reason if body is not None else None
        if reason is None:
            raise ReasonRequired()
        now = now or utcnow()
        repository = ClosingRepository.from_session(session)
        if await repository.current(str(month), lock=True) is None:
            raise MonthNotClosed(details={"month": str(month)})
        version = await repository.last_version(str(month)) + 1
        return await self._store(session, principal, month, version, "recompute", reason, now)

    async def _store(
        self,
        session: AsyncSession,
        principal: Principal,
        month: Month,
        version: int,
        action: str,
        reason: str | None,
        now: datetime,
    ) -> schemas.MonthVersion:
        live = await evaluation_service.live_scorecards(session, month, top=0, now=now)
        close = MonthlyScorecardClose(
            month=str(month),
            version=version,
            action=action,
            reason=reason,
            policy=live.policy.model_dump(mode="json"),
            closed_by=principal.actor,
            closed_at=now,
        )
        snapshots = [
            MonthlyScorecardSnapshot(
                month=str(month),
                version=version,
                unit_code=card.unit_code,
                unit_kind=card.unit_kind.value,
                score=card.score,
                figures=card.model_dump(mode="json"),
            )
            for card in live.units
        ]
        await ClosingRepository.from_session(session).add(close, snapshots)
        log.info(
            "evaluation.month_closed",
            month=str(month),
            version=version,
            action=action,
            by=principal.actor,
            units=len(snapshots),
        )
        scores = {card.unit_code: card.score for card in live.units}
        return _version_out(close, version, scores)

    async def history(self, session: AsyncSession, month: Month) -> schemas.MonthHistory:
        repository = ClosingRepository.from_session(session)
        versions = await repository.versions(str(month))
        scores = await repository.scores(str(month))
        current = versions[-1].version if versions else 0
        return schemas.MonthHistory(
            month=str(month),
            closed=bool(versions),
            versions=[_version_out(v, current, scores.get(v.version, {})) for v in versions],
        )


month_closing_service = MonthClosingService()
