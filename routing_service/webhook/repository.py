from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from routing_service.models import OrgUnit, WebhookDelivery, WebhookSubscription
from routing_service.webhook.schemas import DeliveryStatus
from services.db import row_locks

# The sweep's predicate must match the partial index ``ix_webhook_delivery_pending``
# (``WHERE status = 'pending'``) textually: with a bound parameter PostgreSQL's generic plans
# cannot prove the index applies and would scan the whole table.
_PENDING: ColumnClause[str] = literal_column("'pending'")


def same_owner(subscription: WebhookSubscription) -> ColumnElement[bool]:
    """The subscriptions of the unit or the channel that owns this one (exactly one is set)."""
    if subscription.unit_id is not None:
        return WebhookSubscription.unit_id == subscription.unit_id
    return WebhookSubscription.channel == subscription.channel


class WebhookSubscriptionRepository:
    """Queries take the caller's scope as a condition on WebhookSubscription (an ``Owner``'s
    ``subscriptions()``); a subscription outside it reads as missing."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> WebhookSubscriptionRepository:
        return cls(session)

    def get_base_statement(self) -> Select[WebhookSubscription, OrgUnit]:
        """Each subscription with its unit (``None`` for a channel's)."""
        return select(WebhookSubscription, OrgUnit).outerjoin(
            OrgUnit, OrgUnit.id == WebhookSubscription.unit_id
        )

    async def get(
        self, subscription_id: uuid.UUID, scope: ColumnElement[bool]
    ) -> tuple[WebhookSubscription, OrgUnit | None] | None:
        stmt = self.get_base_statement().where(WebhookSubscription.id == subscription_id, scope)
        row = (await self.session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    def list_statement(
        self, scope: ColumnElement[bool], *, active: bool | None
    ) -> Select[WebhookSubscription]:
        """The subscriptions in ``scope``, for a keyset page (``services.pagination``)."""
        stmt = select(WebhookSubscription).where(scope)
        if active is not None:
            stmt = stmt.where(WebhookSubscription.active.is_(active))
        return stmt

    async def units_of(
        self, subscriptions: Sequence[WebhookSubscription]
    ) -> dict[uuid.UUID, OrgUnit]:
        """The units owning these subscriptions, by id, in one read (none for a channel's)."""
        ids = {s.unit_id for s in subscriptions if s.unit_id is not None}
        if not ids:
            return {}
        units = await self.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))
        return {unit.id: unit for unit in units}

    async def units_with_active(
        self, codes: Sequence[str]
    ) -> tuple[dict[str, OrgUnit], dict[uuid.UUID, Sequence[WebhookSubscription]]]:
        """Active units by code and each one's active subscriptions, in one statement (a
        dispatch needs both for every unit it sends a card to)."""
        stmt = (
            select(OrgUnit, WebhookSubscription)
            .outerjoin(
                WebhookSubscription,
                and_(
                    WebhookSubscription.unit_id == OrgUnit.id,
                    WebhookSubscription.active.is_(True),
                ),
            )
            .where(OrgUnit.code.in_(codes), OrgUnit.active.is_(True))
        )
        units: dict[str, OrgUnit] = {}
        found: dict[uuid.UUID, list[WebhookSubscription]] = {}
        for unit, subscription in await self.session.execute(stmt):
            units[unit.code] = unit
            of_unit = found.setdefault(unit.id, [])
            if subscription is not None:
                of_unit.append(subscription)
        subscriptions: dict[uuid.UUID, Sequence[WebhookSubscription]] = dict(found)
        return units, subscriptions

    async def active(self, owner: ColumnElement[bool]) -> Sequence[WebhookSubscription]:
        """One owner's active subscriptions: a range of the unit or channel index."""
        stmt = select(WebhookSubscription).where(owner, WebhookSubscription.active.is_(True))
        return (await self.session.scalars(stmt)).all()

    async def count_active(self, owner: ColumnElement[bool]) -> int:
        stmt = select(func.count()).where(owner, WebhookSubscription.active.is_(True))
        return int(await self.session.scalar(stmt) or 0)

    async def active_unit(self, code: str, scope: Sequence[ColumnElement[bool]]) -> OrgUnit | None:
        """The active unit with that code, if it meets the scope's conditions on OrgUnit."""
        stmt = select(OrgUnit).where(OrgUnit.code == code, OrgUnit.active.is_(True), *scope)
        return await self.session.scalar(stmt)


class WebhookDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> WebhookDeliveryRepository:
        return cls(session)

    def get_base_statement(self) -> Select[WebhookDelivery]:
        return select(WebhookDelivery)

    async def get(
        self, delivery_id: uuid.UUID, scope: ColumnElement[bool]
    ) -> tuple[WebhookDelivery, WebhookSubscription] | None:
        """The delivery with its subscription, if the subscription is in ``scope``."""
        stmt = (
            select(WebhookDelivery, WebhookSubscription)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id == delivery_id, scope)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def get_for_update(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        """The delivery, row-locked on PostgreSQL (SQLite serialises writers anyway); waits for
        a worker holding it."""
        stmt = (
            self.get_base_statement()
            .where(WebhookDelivery.id == delivery_id)
            .execution_options(populate_existing=True)
        )
        if row_locks(self.session):
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def for_claim(
        self, delivery_id: uuid.UUID
    ) -> tuple[WebhookDelivery, WebhookSubscription | None] | None:
        """The delivery with its subscription, in one read; the delivery row locked with SKIP
        LOCKED on PostgreSQL (a row another worker holds reads as missing)."""
        stmt = (
            select(WebhookDelivery, WebhookSubscription)
            .outerjoin(
                WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
            )
            .where(WebhookDelivery.id == delivery_id)
            .execution_options(populate_existing=True)
        )
        if row_locks(self.session):
            stmt = stmt.with_for_update(of=WebhookDelivery, skip_locked=True)
        row = (await self.session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    def list_statement(
        self,
        scope: ColumnElement[bool],
        *,
        subscription_id: uuid.UUID | None,
        status: DeliveryStatus | None,
    ) -> Select[WebhookDelivery]:
        """The deliveries of the subscriptions in ``scope``, for a keyset page."""
        stmt = (
            self.get_base_statement()
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(scope)
        )
        if subscription_id is not None:
            stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status.value)
        return stmt

    def due_statement(self, now: datetime, limit: int) -> Select[uuid.UUID, int]:
        """Pending deliveries whose next attempt is due, oldest first: a range scan of the
        partial index, so the cost follows what is due, not the size of the table."""
        return (
            select(WebhookDelivery.id, WebhookDelivery.attempts)
            .where(WebhookDelivery.status == _PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )

    async def due(self, now: datetime, limit: int) -> Sequence[tuple[uuid.UUID, int]]:
        rows = await self.session.execute(self.due_statement(now, limit))
        return [(row.id, row.attempts) for row in rows]

    async def requeue_dead(self, subscription_id: uuid.UUID, now: datetime) -> Sequence[uuid.UUID]:
        """Turn every dead delivery of a subscription back into a fresh pending one."""
        stmt = (
            update(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.status == DeliveryStatus.dead.value,
            )
            .values(
                status=DeliveryStatus.pending.value,
                attempts=0,
                next_attempt_at=now,
                delivered_at=None,
            )
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalars(stmt)).all()
