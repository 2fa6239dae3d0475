"""The enterprise file (一企一档): everything of one credit code, each caller in their scope.

Routing holds the cases and cards; it asks intake for the requests as received and the "165"
visits, and scoring for the ratings, over REST with its service token. The scoped sets are the
worklist's (``ListQuery`` with ``uscc``), so the file shows exactly what ``/v1/cases?uscc=`` and
``/v1/cards?uscc=`` list for the same caller. Every section is bounded (``MAX_SECTION`` most
recent items, counted in full) and every read is an index range on the credit code or on the
listed cases' ids, so a file costs what the enterprise has, not what the tables hold.

When intake or scoring cannot be reached (or answers an error), the file is still answered with
what routing has: the missing parts are null and named in ``partial``. A console showing cases
without ratings is more useful than an error page, and the caller can see what is missing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment.endpoints import card_out
from routing_service.assignment.repository import UnitRepository
from routing_service.assignment.schemas import CardOut
from routing_service.enterprise.schemas import (
    EnterpriseCaseOut,
    EnterpriseFigures,
    EnterpriseFileOut,
    EnterpriseRatingOut,
    Part,
)
from routing_service.models import Card, Case
from routing_service.worklist.filters import OPEN_CARD_STATUSES, ListQuery
from routing_service.worklist.schemas import CardFilters, CaseFilters
from services.auth import Principal, service_token
from services.models import utcnow
from services.policy import reads_all_requests
from services.settings import common_settings
from shared.enums import CaseStatus
from shared.schemas.enterprise import (
    MAX_SECTION,
    EnterpriseRatings,
    EnterpriseRatingsQuery,
    EnterpriseRecords,
    EnterpriseRecordsQuery,
    EnterpriseRequest,
    EnterpriseVisit,
    RatingFigures,
    Section,
)

__all__ = ["OPEN_CASE_STATUSES", "EnterpriseService", "enterprise_service"]

log = structlog.get_logger(__name__)

# Cases still being worked on (as the public statistics count "in progress"); the rest are
# finished one way or another (closed, completed, answered, rejected, merged, duplicate…).
OPEN_CASE_STATUSES = (
    CaseStatus.pending_verification.value,
    CaseStatus.awaiting_dispatch.value,
    CaseStatus.dispatched.value,
    CaseStatus.in_progress.value,
    CaseStatus.transferred.value,
)
# A console waits for the file: a slow service is reported missing rather than waited for.
PART_TIMEOUT = httpx.Timeout(5.0, connect=2.0)

M = TypeVar("M", bound=BaseModel)


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class EnterpriseService:
    async def file(
        self, session: AsyncSession, http: httpx.AsyncClient, principal: Principal, uscc: str
    ) -> EnterpriseFileOut:
        query = ListQuery(session, principal)
        cases_stmt, _keyset, _tiers = await query.cases(CaseFilters(uscc=uscc))
        cards_stmt, _keyset = await query.cards(CardFilters(uscc=uscc))
        overdue_stmt, _keyset = await query.cards(CardFilters(uscc=uscc, due_state="overdue"))

        # -- cases: the figures over all in scope, the most recent listed
        statuses = cases_stmt.with_only_columns(Case.status).order_by(None).subquery()
        cases_total, cases_open = (await session.execute(
            select(func.count(), _count_if(statuses.c.status.in_(OPEN_CASE_STATUSES)))
        )).one()  # fmt: skip
        cases = list((await session.scalars(
            cases_stmt.order_by(Case.received_at.desc(), Case.id.desc()).limit(MAX_SECTION + 1)
        )).all())  # fmt: skip
        cases_truncated = len(cases) > MAX_SECTION
        cases = cases[:MAX_SECTION]

        # -- cards
        card_statuses = cards_stmt.with_only_columns(Card.status).order_by(None).subquery()
        cards_total, cards_open = (await session.execute(
            select(func.count(), _count_if(card_statuses.c.status.in_(OPEN_CARD_STATUSES)))
        )).one()  # fmt: skip
        overdue = overdue_stmt.with_only_columns(Card.id).order_by(None).subquery()
        cards_overdue = int(await session.scalar(select(func.count()).select_from(overdue)) or 0)
        cards = list((await session.scalars(
            cards_stmt.order_by(Card.dispatched_at.desc(), Card.id.desc()).limit(MAX_SECTION + 1)
        )).all())  # fmt: skip
        cards_truncated = len(cards) > MAX_SECTION
        cards = cards[:MAX_SECTION]

        units = await UnitRepository.from_session(session).by_ids(
            [c.owner_unit_id for c in cases] + [c.unit_id for c in cards]
        )
        tracking = {c.id: c.tracking_no for c in cases}
        unlisted = {c.case_id for c in cards} - tracking.keys()
        if unlisted:
            found = await session.execute(
                select(Case.id, Case.tracking_no).where(Case.id.in_(unlisted))
            )
            tracking.update({row.id: row.tracking_no for row in found})

        named = (await session.execute(
            cases_stmt.with_only_columns(Case.enterprise_name, Case.received_at)
            .where(Case.enterprise_name.is_not(None), Case.enterprise_name != "")
            .order_by(Case.received_at.desc()).limit(1)
        )).first()  # fmt: skip

        # -- intake (requests, visits) and scoring (ratings), at the same time
        everything = reads_all_requests(principal)
        records_query: EnterpriseRecordsQuery | None = EnterpriseRecordsQuery()
        if not everything:
            visit_ids = await self._visit_ids(session, cases_stmt)
            records_query = (
                EnterpriseRecordsQuery(request_ids=[c.request_id for c in cases],
                                       visit_ids=visit_ids)
                if cases or visit_ids else None
            )  # fmt: skip
        settings = common_settings()
        records, ratings = await asyncio.gather(
            self._part(http, principal, f"{settings.intake_url}/v1/service/enterprises/{uscc}/records",
                       records_query, EnterpriseRecords),
            self._part(http, principal, f"{settings.scoring_url}/v1/service/ratings/by-cases",
                       EnterpriseRatingsQuery(case_ids=[c.id for c in cases]) if cases else None,
                       EnterpriseRatings),
        )  # fmt: skip
        partial: list[Part] = []
        if records_query is None:
            records = EnterpriseRecords(
                requests=Section[EnterpriseRequest](items=[], total=0, truncated=False),
                visits=Section[EnterpriseVisit](items=[], total=0, truncated=False),
            )
        if cases and ratings is None:
            partial.append("ratings")
        if records is None:
            partial += ["requests", "visits"]

        requests = records.requests if records is not None else None
        if requests is not None and not everything:
            # The requests behind the cases in scope: one per case.
            requests = Section[EnterpriseRequest](
                items=requests.items, total=int(cases_total), truncated=cases_truncated
            )
        visits = records.visits if records is not None else None
        rating_section: Section[EnterpriseRatingOut] | None = None
        rating_figures: RatingFigures | None = None
        if ratings is not None:
            rating_section = Section[EnterpriseRatingOut](
                items=[
                    EnterpriseRatingOut(**r.model_dump(), tracking_no=tracking.get(r.case_id))
                    for r in ratings.ratings.items
                ],
                total=ratings.ratings.total,
                truncated=ratings.ratings.truncated or cases_truncated,
            )
            rating_figures = ratings.figures
        elif not cases:  # nothing to rate: scoring was not asked
            rating_section = Section[EnterpriseRatingOut](items=[], total=0, truncated=False)
            rating_figures = RatingFigures(
                ratings=0, satisfied=0, basic=0, unsatisfied=0, satisfaction_rate=None
            )

        figures = EnterpriseFigures(
            requests=requests.total if requests is not None else None,
            cases=int(cases_total),
            cases_open=int(cases_open),
            cases_closed=int(cases_total) - int(cases_open),
            cards=int(cards_total),
            cards_open=int(cards_open),
            cards_overdue=cards_overdue,
            ratings=rating_figures.ratings if rating_figures else None,
            ratings_satisfied=rating_figures.satisfied if rating_figures else None,
            ratings_basic=rating_figures.basic if rating_figures else None,
            ratings_unsatisfied=rating_figures.unsatisfied if rating_figures else None,
            satisfaction_rate=rating_figures.satisfaction_rate if rating_figures else None,
            visits=visits.total if visits is not None else None,
        )
        return EnterpriseFileOut(
            uscc=uscc,
            name=self._name(named, requests, visits),
            requests_scope="all" if everything else "cases_in_scope",
            generated_at=utcnow(),
            partial=partial,
            figures=figures,
            requests=requests,
            cases=Section[EnterpriseCaseOut](
                items=[self._case(c, units[c.owner_unit_id].code) for c in cases],
                total=int(cases_total),
                truncated=cases_truncated,
            ),
            cards=Section[CardOut](
                items=[card_out(c, units[c.unit_id], tracking.get(c.case_id)) for c in cards],
                total=int(cards_total),
                truncated=cards_truncated,
            ),
            ratings=rating_section,
            visits=visits,
        )

    @staticmethod
    async def _visit_ids(session: AsyncSession, cases_stmt: Any) -> list[uuid.UUID]:
        """The 165 visits whose requests became cases in the caller's scope (most recent)."""
        visits = (
            cases_stmt.with_only_columns(Case.cppcc_visit_id, Case.received_at)
            .where(Case.cppcc_visit_id.is_not(None))
            .order_by(None)
            .subquery()
        )
        rows = await session.scalars(
            select(visits.c.cppcc_visit_id)
            .group_by(visits.c.cppcc_visit_id)
            .order_by(func.max(visits.c.received_at).desc())
            .limit(MAX_SECTION)
        )
        return list(rows.all())

    @staticmethod
    async def _part(
        http: httpx.AsyncClient,
        principal: Principal,
        url: str,
        body: BaseModel | None,
        model: type[M],
    ) -> M | None:
        """Another service's part of the file; ``None`` when it cannot be had (logged)."""
        if body is None:
            return None
        headers = {
            "Authorization": f"Bearer {service_token('routing')}",
            "X-Acting-For": principal.actor[:100],
        }
        try:
            response = await http.post(
                url, json=body.model_dump(mode="json"), headers=headers, timeout=PART_TIMEOUT
            )
        except httpx.HTTPError as exc:
            log.warning("enterprise.part_unavailable", url=url, error=str(exc)[:300])
            return None
        if response.status_code != 200:
            log.warning("enterprise.part_refused", url=url, status=response.status_code)
            return None
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            log.warning("enterprise.part_unreadable", url=url, error=str(exc)[:300])
            return None

    @staticmethod
    def _case(case: Case, owner_code: str) -> EnterpriseCaseOut:
        state = CaseStatus(case.status)
        return EnterpriseCaseOut(
            id=case.id, tracking_no=case.tracking_no, title=case.title, channel=case.channel,
            type=case.type, topic=case.topic, urgency=case.urgency,
            classification=case.classification, status=state, status_label=state.label_zh,
            owner_unit_code=owner_code, cppcc_visit_id=case.cppcc_visit_id,
            redo_count=case.redo_count, received_at=case.received_at, due_at=case.due_at,
            closed_at=case.closed_at,
        )  # fmt: skip

    @staticmethod
    def _name(
        named: Any,
        requests: Section[EnterpriseRequest] | None,
        visits: Section[EnterpriseVisit] | None,
    ) -> str | None:
        """The most recent non-empty enterprise name of a case or a request; else the name the
        latest visit recorded."""
        candidates: list[tuple[datetime, str]] = []
        if named is not None:
            candidates.append((named.received_at, named.enterprise_name))
        for request in requests.items if requests is not None else ():
            if request.enterprise_name and request.enterprise_name.strip():
                candidates.append((request.received_at, request.enterprise_name))
                break  # newest first
        if candidates:
            return max(candidates, key=lambda c: c[0])[1]
        visited: Sequence[EnterpriseVisit] = visits.items if visits is not None else ()
        named_visits = [
            (datetime.combine(v.visited_on, time(), UTC), v.target_name)
            for v in visited
            if v.target_name.strip()
        ]
        return max(named_visits, key=lambda c: c[0])[1] if named_visits else None


enterprise_service = EnterpriseService()
