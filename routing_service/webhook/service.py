"""Webhooks to department systems (DESIGN §6): subscriptions, signed deliveries, retries,
dead letters and replay.

Producer interface — how the rest of routing tells a unit's systems that something happened::

    from routing_service.webhook.service import webhook_service
    from shared.webhooks import CardDispatchedData

    await webhook_service.notify_unit(session, unit.id, "card.dispatched", CardDispatchedData(...))

``notify_unit(session, unit_id, event_type, data) -> list[WebhookDelivery]`` writes one
``pending`` delivery per active subscription of the unit whose ``event_types`` contain
``event_type`` or ``"*"``, in the caller's transaction (it never commits).
``notify_channel(session, channel, event_type, data)`` does the same for the subscriptions a
channel's backend holds (原渠道反馈: ``request.status_changed``, written by
:func:`routing_service.assignment.facts.tell_submitter`). Both read an owner's subscriptions once
per transaction, however often they are called in it.

A subscription is owned by a unit or by a channel. The API's operations take an :class:`Owner`
(a :class:`UnitScope` for staff, admins and department keys; a :class:`ChannelOwner` for the
intake service acting for a channel) and are otherwise the same for both, as is everything
below — signing, attempts, retries, dead letters, replay, the sweep. The delivery row *is*
the outbox: once the transaction commits, an after-commit hook enqueues
``routing.deliver_webhook`` for each delivery (the fast path); the ``routing.sweep_webhooks``
cron re-enqueues any due delivery whose job was lost (worker died before the push, Redis
restarted). ``event_type`` must be one of :data:`WEBHOOK_EVENT_TYPES` (units) or
:data:`~shared.webhooks.CHANNEL_EVENT_TYPES` (channels), and ``data`` that event's payload model
in :mod:`shared.webhooks` (anything else is a ``TypeError``): what is sent is what the published
schema says. Each delivery carries the Standard Webhooks payload ``{"type", "timestamp",
"data"}`` (times in UTC, ``Z``) and its own message id (``msg_<hex>``), the ``webhook-id``
receivers deduplicate on: delivery is at least once.

Rotating a secret keeps the replaced one signing alongside the new one for
``ROUTING_WEBHOOK_ROTATION_OVERLAP`` seconds: each attempt in that window carries both
signatures, so a receiver can switch secrets without rejecting a message.

Attempts: a job claims the row, counts the attempt and leases the row for the length of one
request, commits, POSTs without holding a transaction, then records the outcome — only if its
attempt is still the current one. The usual attempt (due, subscription active, 2xx answer) is
one autocommitted ``UPDATE … RETURNING`` before the POST and one after; anything else is decided
under the row lock (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL). 2xx → ``delivered``;
410 → the subscription is deactivated and the delivery dead-lettered; a target address refused
by :mod:`routing_service.webhook.targets` (checked on the resolved addresses at every attempt)
→ dead-lettered at once; anything else (a redirect too: never followed) is retried on
``ROUTING_WEBHOOK_RETRY_SCHEDULE`` (with up to 20 % jitter) until ``webhook_max_attempts``,
then ``dead``. Dead or delivered deliveries can be replayed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import structlog
from arq.constants import job_key_prefix, result_key_prefix
from sqlalchemy import ColumnElement, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from routing_service.config import settings
from routing_service.models import OrgUnit, WebhookDelivery, WebhookSubscription
from routing_service.webhook.exceptions import (
    DeliveryNotFound,
    DeliveryPending,
    SubscriptionInactive,
    SubscriptionNotFound,
    TooManyChannelSubscriptions,
    TooManySubscriptions,
    UnitNotFound,
    UnitRequired,
    UnknownEventType,
    UrlInvalid,
    UrlNotAllowed,
)
from routing_service.webhook.repository import (
    WebhookDeliveryRepository,
    WebhookSubscriptionRepository,
    same_owner,
)
from routing_service.webhook.schemas import (
    ANY_EVENT,
    CHANNEL_EVENT_TYPES,
    WEBHOOK_EVENT_TYPES,
    ChannelSubscriptionCreate,
    ChannelSubscriptionOut,
    ChannelSubscriptionUpdate,
    ChannelSubscriptionWithSecret,
    DeliveryStatus,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionUpdate,
    SubscriptionWithSecret,
    channel_subscription_out,
    channel_subscription_with_secret,
)
from routing_service.webhook.signing import new_secret
from routing_service.webhook.targets import (
    TargetInvalid,
    TargetRefused,
    TargetUnresolved,
    parse_target,
    vet,
)
from services.auth import Principal
from services.db import enqueue_after_commit
from services.models import utcnow
from services.pagination import Key, Keyset, query_fingerprint, read_page
from services.policy import list_scope
from services.queue import JobRequest, QueueClient, enqueue_many
from shared.enums import Channel
from shared.jobs import QUEUE_ROUTING
from shared.webhooks import (
    REQUEST_STATUS_CHANGED,
    WEBHOOK_TEST,
    ChannelTestData,
    DeliveryFilters,
    PageParams,
    RequestStatusChangedData,
    UnitPayload,
    UnitTestData,
    envelope,
)

__all__ = [
    "DELIVER_JOB",
    "SWEEP_JOB",
    "Attempt",
    "ChannelOwner",
    "Outcome",
    "Owned",
    "Owner",
    "SendResult",
    "UnitScope",
    "WebhookService",
    "enqueue_delivery",
    "job_id_for",
    "retry_delay",
    "webhook_service",
]

log = structlog.get_logger(__name__)

DELIVER_JOB = "routing.deliver_webhook"
SWEEP_JOB = "routing.sweep_webhooks"

MAX_JITTER = 0.2
# Jobs deferred by another machine's clock may start a moment early.
DUE_TOLERANCE = timedelta(seconds=1)
# Enqueues done right after a commit; a larger replay is left to the sweep.
FAST_PATH_LIMIT = 500
SWEEP_BATCH = 500
MAX_SUBSCRIPTIONS_PER_UNIT = 20
MAX_SUBSCRIPTIONS_PER_CHANNEL = 20
MAX_ERROR_CHARS = 1000
# How long a subscription request waits for the URL's host to resolve.
SUBSCRIBE_RESOLVE_SECONDS = 3.0
TEST_MESSAGE = "这是一条测试消息 / This is a test message"
# session.info: each owner's active subscriptions, read once per transaction.
_ACTIVE_SUBSCRIPTIONS = "webhook_active_subscriptions"

Outcome = Literal["delivered", "retry", "dead", "skipped"]


def lease() -> timedelta:
    """How long a claimed attempt keeps the row from the sweep: longer than any request."""
    return timedelta(seconds=settings.webhook_timeout_seconds + 60)


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """The wait before the next try, after ``attempts`` failed ones (1-based)."""
    schedule = settings.webhook_retry_schedule
    base = schedule[min(max(attempts, 1), len(schedule)) - 1]
    seconds = base * (1 + random.uniform(0, MAX_JITTER))  # jitter, not security
    if retry_after is not None and retry_after > seconds:
        seconds = min(retry_after, schedule[-1])  # honoured up to the longest regular step
    return timedelta(seconds=seconds)


def job_id_for(delivery_id: uuid.UUID, attempts: int) -> str:
    return f"whd:{delivery_id}:{attempts}"


async def enqueue_delivery(
    queue_client: QueueClient,
    delivery_id: uuid.UUID,
    attempts: int,
    *,
    defer_by: timedelta | None = None,
    clear_stale: bool = False,
) -> bool:
    """Enqueue the delivery job; ``False`` when a job with that id already exists.

    Args:
        queue_client: the process's Redis connection.
        delivery_id: the delivery to send.
        attempts: its attempt count, part of the job id so a retry is a new job while a double
            enqueue of the same attempt is a no-op.
        defer_by: run no earlier than this.
        clear_stale: drop a result arq kept for a run that failed outright (it would block
            the id for a day) when no job with the id is queued or running.
    """
    job_id = job_id_for(delivery_id, attempts)
    redis = queue_client.redis
    job = _delivery_job(delivery_id, attempts, defer_by)
    if (await enqueue_many(redis, [job]))[0]:
        return True
    if clear_stale and not await redis.exists(job_key_prefix + job_id):
        await redis.delete(result_key_prefix + job_id)
        return (await enqueue_many(redis, [job]))[0]
    return False


def _delivery_job(
    delivery_id: uuid.UUID, attempts: int, defer_by: timedelta | None = None
) -> JobRequest:
    return JobRequest(
        DELIVER_JOB, (str(delivery_id),), job_id_for(delivery_id, attempts), QUEUE_ROUTING, defer_by
    )


def _enqueue_after_commit(session: AsyncSession, jobs: list[tuple[uuid.UUID, int]]) -> None:
    # A larger batch (a replay of many dead deliveries) is left to the sweep.
    enqueue_after_commit(
        session,
        [_delivery_job(delivery_id, attempts) for delivery_id, attempts in jobs[:FAST_PATH_LIMIT]],
    )


def _active_subscriptions(
    session: AsyncSession,
) -> dict[tuple[str, object], Sequence[WebhookSubscription]]:
    """The active subscriptions read in the session's current transaction, by owning column
    and owner; a new transaction starts empty, so it sees subscriptions as they are now."""
    transaction = session.sync_session.get_transaction()
    cached: tuple[object, dict[tuple[str, object], Sequence[WebhookSubscription]]] | None = (
        session.info.get(_ACTIVE_SUBSCRIPTIONS)
    )
    if cached is None or cached[0] is not transaction:
        cached = (transaction, {})
        session.info[_ACTIVE_SUBSCRIPTIONS] = cached
    return cached[1]


ChannelPayload = RequestStatusChangedData | ChannelTestData
_CHANNEL_PAYLOADS: dict[str, type[ChannelPayload]] = {
    REQUEST_STATUS_CHANGED: RequestStatusChangedData,
    WEBHOOK_TEST: ChannelTestData,
}

# List orders (services.pagination): subscriptions oldest first, deliveries newest first.
SUBSCRIPTION_ORDER = Keyset(
    (Key(WebhookSubscription.created_at, "datetime"), Key(WebhookSubscription.id, "uuid"))
)
DELIVERY_ORDER = Keyset(
    (
        Key(WebhookDelivery.created_at, "datetime", descending=True),
        Key(WebhookDelivery.id, "uuid", descending=True),
    )
)


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    """What signs an attempt made at ``now``: the current secret, and the replaced one while
    its rotation window lasts."""
    if previous is not None and previous_until is not None and previous_until > now:
        return (secret, previous)
    return (secret,)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed attempt, sent outside any transaction."""

    delivery_id: uuid.UUID
    subscription_id: uuid.UUID
    attempt: int
    url: str
    secrets: tuple[str, ...]  # the current one first; two during a rotation window
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    # Retrying cannot help (the target address is refused): dead-letter at once.
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# The two statements of the usual attempt, built once (constructing them per call cost as much
# CPU as sending them); see WebhookService.take_attempt and .record_delivered.
_TAKE_ATTEMPT = (
    update(WebhookDelivery)
    .where(
        WebhookDelivery.id == bindparam("delivery_id"),
        WebhookDelivery.status == DeliveryStatus.pending.value,
        or_(
            WebhookDelivery.next_attempt_at.is_(None),
            WebhookDelivery.next_attempt_at <= bindparam("due_by"),
        ),
        WebhookDelivery.attempts < bindparam("max_attempts"),
        WebhookSubscription.id == WebhookDelivery.subscription_id,
        WebhookSubscription.active.is_(True),
    )
    .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=bindparam("lease_until"))
    .returning(
        WebhookDelivery.attempts,
        WebhookSubscription.id,
        WebhookSubscription.url,
        WebhookSubscription.secret,
        WebhookSubscription.previous_secret,
        WebhookSubscription.previous_secret_until,
        WebhookDelivery.message_id,
        WebhookDelivery.payload,
    )
)
_RECORD_DELIVERED = (
    update(WebhookDelivery)
    .where(
        WebhookDelivery.id == bindparam("delivery_id"),
        WebhookDelivery.status == DeliveryStatus.pending.value,
        WebhookDelivery.attempts == bindparam("attempt"),
    )
    .values(
        status=DeliveryStatus.delivered.value,
        delivered_at=bindparam("at"),
        next_attempt_at=None,
        last_error=None,
        last_status_code=bindparam("status_code"),
    )
    .returning(WebhookDelivery.id)
)


# ---------------------------------------------------------------- owners

Owned = tuple[WebhookSubscription, OrgUnit | None]
"""A subscription and the unit that owns it (``None`` when a channel owns it)."""

NewT = TypeVar("NewT", bound=SubscriptionCreate | ChannelSubscriptionCreate)
NewT_contra = TypeVar(
    "NewT_contra", bound=SubscriptionCreate | ChannelSubscriptionCreate, contravariant=True
)


class Owner(Protocol[NewT_contra]):
    """The subscriptions one caller manages, and what a new one of theirs belongs to.

    Every subscription and delivery operation of :class:`WebhookService` takes one, so the two
    kinds of owner share each operation; one outside :meth:`subscriptions` answers 404 like one
    that does not exist. Each owner also renders its subscriptions (``out``, ``with_secret``).
    """

    event_types: ClassVar[Sequence[str]]  # what its subscriptions may ask for

    def subscriptions(self) -> ColumnElement[bool]:
        """The condition on :class:`WebhookSubscription` that selects the caller's."""

    async def new(self, session: AsyncSession, data: NewT_contra) -> Owned:
        """A subscription owned as ``data`` asks, not filled in or added yet; or the error
        saying why the caller may not own it."""

    def ensure_room(self, active: int) -> None:
        """Refuse one more active subscription to a unit or channel that has ``active``."""

    def test_data(self, owned: Owned) -> UnitTestData | ChannelTestData:
        """The ``data`` of a ``webhook.test`` message to one of its subscriptions."""

    def caller(self) -> str:
        """Who lists: what a list's cursor is bound to (with the list's filters)."""


@dataclass(frozen=True, slots=True)
class UnitScope:
    """Units' subscriptions, as far as :func:`services.policy.list_scope` lets the caller see
    the org tree: an admin every unit's, department staff and keys their own unit's.
    ``unit_code`` narrows that to one unit (a list filter; outside the scope it selects none).
    """

    event_types: ClassVar[Sequence[str]] = WEBHOOK_EVENT_TYPES
    principal: Principal
    unit_code: str | None = None

    def of_unit(self, unit_code: str | None) -> UnitScope:
        """The same scope, narrowed to one unit when ``unit_code`` is given."""
        return replace(self, unit_code=unit_code)

    def units(self) -> list[ColumnElement[bool]]:
        """Conditions on :class:`OrgUnit` for the units in scope; none: every unit."""
        scope = list_scope(self.principal)
        where: list[ColumnElement[bool]] = []
        if scope.own_unit_code is not None:
            where.append(OrgUnit.code == scope.own_unit_code)
        if scope.subtree is not None:
            where.append(OrgUnit.path.startswith(scope.subtree, autoescape=True))
        if self.unit_code is not None:
            where.append(OrgUnit.code == self.unit_code)
        return where

    def subscriptions(self) -> ColumnElement[bool]:
        units = self.units()
        if not units:
            return WebhookSubscription.unit_id.is_not(None)
        return WebhookSubscription.unit_id.in_(select(OrgUnit.id).where(*units))

    async def new(self, session: AsyncSession, data: SubscriptionCreate) -> Owned:
        code = data.unit_code or self.principal.unit_code
        if code is None:
            raise UnitRequired()
        repository = WebhookSubscriptionRepository.from_session(session)
        unit = await repository.active_unit(code, self.units())
        if unit is None:
            raise UnitNotFound()
        return WebhookSubscription(unit_id=unit.id), unit

    def ensure_room(self, active: int) -> None:
        if active >= MAX_SUBSCRIPTIONS_PER_UNIT:
            raise TooManySubscriptions()

    def test_data(self, owned: Owned) -> UnitTestData:
        subscription, unit = _with_unit(owned)
        return UnitTestData(
            subscription_id=subscription.id, unit_code=unit.code, message=TEST_MESSAGE
        )

    def caller(self) -> str:
        return self.principal.actor

    def out(self, owned: Owned) -> SubscriptionOut:
        return SubscriptionOut.build(*_with_unit(owned))

    def with_secret(self, owned: Owned) -> SubscriptionWithSecret:
        return SubscriptionWithSecret.with_secret(*_with_unit(owned))


def _with_unit(owned: Owned) -> tuple[WebhookSubscription, OrgUnit]:
    subscription, unit = owned
    assert unit is not None, "a channel's subscription cannot be in a unit scope"
    return subscription, unit


@dataclass(frozen=True, slots=True)
class ChannelOwner:
    """One channel's subscriptions (原渠道反馈). Its backend manages them through the intake
    service, which verified its key and names its channel (services.policy.own_channel)."""

    event_types: ClassVar[Sequence[str]] = CHANNEL_EVENT_TYPES
    channel: str

    def subscriptions(self) -> ColumnElement[bool]:
        return WebhookSubscription.channel == self.channel

    async def new(self, session: AsyncSession, data: ChannelSubscriptionCreate) -> Owned:
        return WebhookSubscription(channel=self.channel), None

    def ensure_room(self, active: int) -> None:
        if active >= MAX_SUBSCRIPTIONS_PER_CHANNEL:
            raise TooManyChannelSubscriptions()

    def test_data(self, owned: Owned) -> ChannelTestData:
        subscription, _unit = owned
        return ChannelTestData(
            subscription_id=subscription.id, channel=Channel(self.channel), message=TEST_MESSAGE
        )

    def caller(self) -> str:
        return f"channel:{self.channel}"

    def out(self, owned: Owned) -> ChannelSubscriptionOut:
        return channel_subscription_out(owned[0])

    def with_secret(self, owned: Owned) -> ChannelSubscriptionWithSecret:
        return channel_subscription_with_secret(owned[0])


class WebhookService:
    # ---------------------------------------------------------------- producer

    async def units_with_subscriptions(
        self, session: AsyncSession, codes: Sequence[str]
    ) -> dict[str, OrgUnit]:
        """Active units by code. Their active subscriptions come in the same statement and
        serve :meth:`notify_unit` for the rest of the transaction (a dispatch needs both)."""
        repository = WebhookSubscriptionRepository.from_session(session)
        units, subscriptions = await repository.units_with_active(codes)
        cache = _active_subscriptions(session)
        for unit_id, of_unit in subscriptions.items():
            cache[WebhookSubscription.unit_id.key, unit_id] = of_unit
        return units

    async def notify_unit(
        self, session: AsyncSession, unit_id: uuid.UUID, event_type: str, data: UnitPayload
    ) -> list[WebhookDelivery]:
        """Queue ``event_type`` for every matching active subscription of the unit (see the
        module doc); ``data`` must be that event's model (``TypeError`` otherwise)."""
        if event_type not in WEBHOOK_EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event_type!r}")
        owned_by = WebhookSubscription.unit_id
        return await self._notify(session, owned_by, unit_id, event_type, data)

    async def notify_channel(
        self,
        session: AsyncSession,
        channel: str,
        event_type: str,
        data: ChannelPayload | dict[str, Any],
    ) -> list[WebhookDelivery]:
        """Queue ``event_type`` for every matching active subscription of the channel (its
        backend), like :meth:`notify_unit`. A ``data`` dict is validated into the event's model
        first (a ``ValidationError`` if it does not fit its published schema)."""
        if event_type not in CHANNEL_EVENT_TYPES:
            raise ValueError(f"unknown channel webhook event type {event_type!r}")
        payload = (
            _CHANNEL_PAYLOADS[event_type].model_validate(data) if isinstance(data, dict) else data
        )
        owned_by = WebhookSubscription.channel
        return await self._notify(session, owned_by, channel, event_type, payload)

    async def notify_units(
        self, session: AsyncSession, notices: Sequence[tuple[uuid.UUID, str, UnitPayload]]
    ) -> int:
        """:meth:`notify_unit` for many (unit, event type, data) notices at once, as a batch job
        (the supervision tick) sends them: the same deliveries and jobs, written with one INSERT
        instead of one ORM object each. Returns how many deliveries were queued."""
        rows: list[dict[str, Any]] = []
        for unit_id, event_type, data in notices:
            if event_type not in WEBHOOK_EVENT_TYPES:
                raise ValueError(f"unknown webhook event type {event_type!r}")
            subscriptions = await self._subscriptions(session, WebhookSubscription.unit_id, unit_id)
            of_notice = self._delivery_rows(subscriptions, event_type, data)
            # Jobs per notice, as notify_unit pushes them (its fast-path limit is per call).
            _enqueue_after_commit(session, [(row["id"], 0) for row in of_notice])
            rows.extend(of_notice)
        if rows:
            await session.execute(insert(WebhookDelivery), rows)
        return len(rows)

    async def _notify(
        self,
        session: AsyncSession,
        owned_by: InstrumentedAttribute[Any],
        owner: object,
        event_type: str,
        data: UnitPayload | ChannelPayload,
    ) -> list[WebhookDelivery]:
        subscriptions = await self._subscriptions(session, owned_by, owner)
        return self._queue(session, subscriptions, event_type, data)

    async def _subscriptions(
        self, session: AsyncSession, owned_by: InstrumentedAttribute[Any], owner: object
    ) -> Sequence[WebhookSubscription]:
        # A transaction reads an owner's subscriptions once (a range of the owner's index),
        # however many of its cards or requests change: the supervision tick, a dispatch.
        key = (owned_by.key, owner)
        subscriptions = _active_subscriptions(session).get(key)
        if subscriptions is None:
            repository = WebhookSubscriptionRepository.from_session(session)
            subscriptions = await repository.active(owned_by == owner)
            # Looked up again: the read may have begun the transaction the entry belongs to.
            _active_subscriptions(session)[key] = subscriptions
        return subscriptions

    def _queue(
        self,
        session: AsyncSession,
        subscriptions: Sequence[WebhookSubscription],
        event_type: str,
        data: UnitPayload | ChannelPayload,
    ) -> list[WebhookDelivery]:
        deliveries = [
            WebhookDelivery(**row) for row in self._delivery_rows(subscriptions, event_type, data)
        ]
        session.add_all(deliveries)
        _enqueue_after_commit(session, [(d.id, 0) for d in deliveries])
        return deliveries

    def _delivery_rows(
        self,
        subscriptions: Sequence[WebhookSubscription],
        event_type: str,
        data: UnitPayload | ChannelPayload,
    ) -> list[dict[str, Any]]:
        """The delivery rows (column values) of one event for the matching subscriptions."""
        now = utcnow()
        # Checked even when nobody subscribes: a wrong model fails every time, not only live.
        payload = envelope(event_type, now, data)
        return [
            self._delivery_values(s, event_type, payload, now)
            for s in subscriptions
            if event_type in s.event_types or ANY_EVENT in s.event_types
        ]

    def _new_delivery(
        self,
        subscription: WebhookSubscription,
        event_type: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> WebhookDelivery:
        return WebhookDelivery(**self._delivery_values(subscription, event_type, payload, now))

    def _delivery_values(
        self,
        subscription: WebhookSubscription,
        event_type: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "subscription_id": subscription.id,
            "message_id": f"msg_{uuid.uuid4().hex}",
            "event_type": event_type,
            "payload": payload,
            "status": DeliveryStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    # ---------------------------------------------------------------- subscriptions (API)

    async def create_subscription(
        self, session: AsyncSession, owner: Owner[NewT], data: NewT
    ) -> Owned:
        subscription, unit = await owner.new(session, data)
        subscription.event_types = self._check_event_types(data.event_types, owner.event_types)
        await self._check_url(data.url)
        await self._ensure_room(session, owner, subscription)
        subscription.id = uuid.uuid4()
        subscription.url = data.url
        subscription.secret = new_secret()
        subscription.active = True
        subscription.description = data.description or None
        subscription.created_at = utcnow()
        session.add(subscription)
        await session.flush()
        log.info(
            "webhook.subscription_created",
            unit=unit.code if unit else None,
            channel=subscription.channel,
            subscription=str(subscription.id),
        )
        return subscription, unit

    async def list_subscriptions(
        self, session: AsyncSession, owner: Owner[Any], page: PageParams, *, active: bool | None
    ) -> tuple[list[Owned], str | None, int | None]:
        """One cursor page of the owner's subscriptions, oldest first: the rows, the next
        cursor (``None`` on the last page) and the total when ``page.with_total``."""
        repository = WebhookSubscriptionRepository.from_session(session)
        stmt = repository.list_statement(owner.subscriptions(), active=active)
        rows, next_cursor, total = await read_page(
            session, stmt, SUBSCRIPTION_ORDER, cursor=page.cursor, limit=page.limit,
            fingerprint=query_fingerprint(owner.caller(), page.fingerprint_params()),
            with_total=page.with_total,
        )  # fmt: skip
        units = await repository.units_of(rows)
        owned = [(row, units.get(row.unit_id) if row.unit_id else None) for row in rows]
        return owned, next_cursor, total

    async def get_subscription(
        self, session: AsyncSession, owner: Owner[Any], subscription_id: uuid.UUID
    ) -> Owned:
        repository = WebhookSubscriptionRepository.from_session(session)
        owned = await repository.get(subscription_id, owner.subscriptions())
        if owned is None:
            raise SubscriptionNotFound()
        return owned

    async def update_subscription(
        self,
        session: AsyncSession,
        owner: Owner[Any],
        subscription_id: uuid.UUID,
        data: SubscriptionUpdate | ChannelSubscriptionUpdate,
    ) -> Owned:
        """Apply a PATCH: fields left out stay as they are."""
        owned = subscription, _unit = await self.get_subscription(session, owner, subscription_id)
        if data.url is not None:
            await self._check_url(data.url)
            subscription.url = data.url
        if data.event_types is not None:
            subscription.event_types = self._check_event_types(data.event_types, owner.event_types)
        if data.active is not None and data.active != subscription.active:
            if data.active:
                await self._ensure_room(session, owner, subscription)
            subscription.active = data.active
        if "description" in data.model_fields_set:
            subscription.description = data.description or None
        await session.flush()
        return owned

    async def deactivate(
        self, session: AsyncSession, owner: Owner[Any], subscription_id: uuid.UUID
    ) -> Owned:
        """Stop a subscription; its pending deliveries are dead-lettered when their turn comes
        (and can be replayed after it is activated again)."""
        owned = await self.get_subscription(session, owner, subscription_id)
        owned[0].active = False
        await session.flush()
        return owned

    async def rotate_secret(
        self, session: AsyncSession, owner: Owner[Any], subscription_id: uuid.UUID
    ) -> Owned:
        """New signing secret, used from the next attempt on (pending retries included). The
        replaced one keeps signing alongside it for ``webhook_rotation_overlap`` seconds; a
        second rotation within that window drops the oldest (only two ever sign)."""
        owned = subscription, _unit = await self.get_subscription(session, owner, subscription_id)
        overlap = timedelta(seconds=settings.webhook_rotation_overlap)
        if overlap:
            subscription.previous_secret = subscription.secret
            subscription.previous_secret_until = utcnow() + overlap
        else:
            subscription.previous_secret = subscription.previous_secret_until = None
        subscription.secret = new_secret()
        await session.flush()
        return owned

    async def send_test(
        self, session: AsyncSession, owner: Owner[Any], subscription_id: uuid.UUID
    ) -> WebhookDelivery:
        owned = subscription, _unit = await self.get_subscription(session, owner, subscription_id)
        if not subscription.active:
            raise SubscriptionInactive()
        now = utcnow()
        payload = envelope(WEBHOOK_TEST, now, owner.test_data(owned))
        delivery = self._new_delivery(subscription, WEBHOOK_TEST, payload, now)
        session.add(delivery)
        await session.flush()
        _enqueue_after_commit(session, [(delivery.id, 0)])
        return delivery

    async def replay_dead(
        self, session: AsyncSession, owner: Owner[Any], subscription_id: uuid.UUID
    ) -> int:
        subscription, _unit = await self.get_subscription(session, owner, subscription_id)
        if not subscription.active:
            raise SubscriptionInactive()
        ids = await WebhookDeliveryRepository.from_session(session).requeue_dead(
            subscription.id, utcnow()
        )
        if ids:
            _enqueue_after_commit(session, [(delivery_id, 0) for delivery_id in ids])
        return len(ids)

    # ---------------------------------------------------------------- deliveries (API)

    async def list_deliveries(
        self, session: AsyncSession, owner: Owner[Any], filters: DeliveryFilters
    ) -> tuple[list[WebhookDelivery], str | None, int | None]:
        """One cursor page of the owner's deliveries, newest first (like
        :meth:`list_subscriptions`); another owner's subscription is a 404."""
        if filters.subscription_id is not None:
            await self.get_subscription(session, owner, filters.subscription_id)
        stmt = WebhookDeliveryRepository.from_session(session).list_statement(
            owner.subscriptions(), subscription_id=filters.subscription_id, status=filters.status
        )
        rows, next_cursor, total = await read_page(
            session, stmt, DELIVERY_ORDER, cursor=filters.cursor, limit=filters.limit,
            fingerprint=query_fingerprint(owner.caller(), filters.fingerprint_params()),
            with_total=filters.with_total,
        )  # fmt: skip
        return rows, next_cursor, total

    async def get_delivery(
        self, session: AsyncSession, owner: Owner[Any], delivery_id: uuid.UUID
    ) -> tuple[WebhookDelivery, WebhookSubscription]:
        repository = WebhookDeliveryRepository.from_session(session)
        row = await repository.get(delivery_id, owner.subscriptions())
        if row is None:
            raise DeliveryNotFound()
        return row

    async def replay_delivery(
        self, session: AsyncSession, owner: Owner[Any], delivery_id: uuid.UUID
    ) -> WebhookDelivery:
        delivery, subscription = await self.get_delivery(session, owner, delivery_id)
        if delivery.status == DeliveryStatus.pending.value:
            raise DeliveryPending()
        if not subscription.active:
            raise SubscriptionInactive()
        delivery.status = DeliveryStatus.pending.value
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        delivery.delivered_at = None
        await session.flush()
        _enqueue_after_commit(session, [(delivery.id, 0)])
        return delivery

    async def _ensure_room(
        self, session: AsyncSession, owner: Owner[Any], subscription: WebhookSubscription
    ) -> None:
        """Refuse to make ``subscription`` active when its unit or channel has its fill."""
        repository = WebhookSubscriptionRepository.from_session(session)
        owner.ensure_room(await repository.count_active(same_owner(subscription)))

    # ---------------------------------------------------------------- worker side

    async def take_attempt(
        self, connection: AsyncConnection, delivery_id: uuid.UUID, *, now: datetime
    ) -> Attempt | None:
        """The usual :meth:`claim` in one statement, for an autocommit connection: a pending,
        due delivery of an active subscription with attempts left is counted and leased.

        ``None`` when the delivery is anything else (or on SQLite, whose ``UPDATE … FROM`` cannot
        return the subscription's columns): :meth:`claim` then says what to do. A worker running
        the same attempt at that moment waits for this row and then finds it leased, not due.
        """
        if connection.dialect.name != "postgresql":
            return None
        parameters = {
            "delivery_id": delivery_id,
            "due_by": now + DUE_TOLERANCE,
            "max_attempts": settings.webhook_max_attempts,
            "lease_until": now + lease(),
        }
        row = (await connection.execute(_TAKE_ATTEMPT, parameters)).one_or_none()
        if row is None:
            return None
        attempts, subscription_id, url, secret, previous, until, message_id, payload = row
        return Attempt(
            delivery_id=delivery_id,
            subscription_id=subscription_id,
            attempt=attempts,
            url=url,
            secrets=signing_secrets(secret, previous, until, now),
            message_id=message_id,
            payload=dict(payload),
        )

    async def claim(
        self, session: AsyncSession, delivery_id: uuid.UUID, *, now: datetime
    ) -> Attempt | Outcome:
        """Take the next attempt of a due delivery; the caller commits, then sends.

        Returns ``"skipped"`` when there is nothing to do (already done, not due, held by
        another worker) and ``"dead"`` when the delivery is dead-lettered without sending.
        """
        found = await WebhookDeliveryRepository.from_session(session).for_claim(delivery_id)
        if found is None:
            return "skipped"
        delivery, subscription = found
        if delivery.status != DeliveryStatus.pending.value:
            return "skipped"
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + DUE_TOLERANCE:
            return "skipped"
        if subscription is None or not subscription.active:
            self._dead(delivery, "订阅已停用 / subscription inactive")
            return "dead"
        if delivery.attempts >= settings.webhook_max_attempts:
            # The last attempt was claimed but never recorded (its worker died).
            self._dead(delivery, delivery.last_error or "attempt interrupted")
            return "dead"
        delivery.attempts += 1
        delivery.next_attempt_at = now + lease()
        return Attempt(
            delivery_id=delivery.id,
            subscription_id=subscription.id,
            attempt=delivery.attempts,
            url=subscription.url,
            secrets=signing_secrets(
                subscription.secret,
                subscription.previous_secret,
                subscription.previous_secret_until,
                now,
            ),
            message_id=delivery.message_id,
            payload=dict(delivery.payload),
        )

    async def record_delivered(
        self, connection: AsyncConnection, attempt: Attempt, result: SendResult, *, now: datetime
    ) -> Outcome:
        """Store a 2xx outcome in one statement, without loading the row (the common case; on
        an autocommit connection it is one round trip). ``"skipped"`` if superseded."""
        parameters = {
            "delivery_id": attempt.delivery_id,
            "attempt": attempt.attempt,
            "at": now,
            "status_code": result.status_code,
        }
        delivered = await connection.scalar(_RECORD_DELIVERED, parameters)
        return "delivered" if delivered is not None else "skipped"

    async def record(
        self, session: AsyncSession, attempt: Attempt, result: SendResult, *, now: datetime
    ) -> tuple[Outcome, datetime | None]:
        """Store an attempt's outcome; the caller commits. Returns the outcome and, for a
        retry, when it is due. A superseded attempt (its lease expired and another worker took
        the delivery) changes nothing."""
        if result.ok:
            connection = await session.connection()
            return await self.record_delivered(connection, attempt, result, now=now), None
        delivery = await WebhookDeliveryRepository.from_session(session).get_for_update(
            attempt.delivery_id
        )
        if (
            delivery is None
            or delivery.status != DeliveryStatus.pending.value
            or delivery.attempts != attempt.attempt
        ):
            return "skipped", None
        delivery.last_status_code = result.status_code
        error = (result.error or f"HTTP {result.status_code}")[:MAX_ERROR_CHARS]
        if result.status_code == 410:
            subscription = await session.get(WebhookSubscription, attempt.subscription_id)
            if subscription is not None:
                subscription.active = False
            log.warning("webhook.subscription_gone", subscription=str(attempt.subscription_id))
            self._dead(delivery, error)
            return "dead", None
        if result.permanent or delivery.attempts >= settings.webhook_max_attempts:
            self._dead(delivery, error)
            return "dead", None
        delivery.last_error = error
        delivery.next_attempt_at = now + retry_delay(delivery.attempts, result.retry_after)
        return "retry", delivery.next_attempt_at

    async def due(self, session: AsyncSession, *, now: datetime) -> list[tuple[uuid.UUID, int]]:
        return list(await WebhookDeliveryRepository.from_session(session).due(now, SWEEP_BATCH))

    def _dead(self, delivery: WebhookDelivery, error: str) -> None:
        delivery.status = DeliveryStatus.dead.value
        delivery.next_attempt_at = None
        delivery.last_error = error[:MAX_ERROR_CHARS]
        log.warning("webhook.dead_letter", delivery=str(delivery.id), attempts=delivery.attempts)

    # ---------------------------------------------------------------- checks

    def _check_event_types(self, event_types: list[str], known: Sequence[str]) -> list[str]:
        unknown = [t for t in event_types if t != ANY_EVENT and t not in known]
        if unknown:
            raise UnknownEventType(
                f"未知的事件类型:{', '.join(unknown)}",
                f"Unknown event types: {', '.join(unknown)}",
                details={"unknown": unknown, "known": [*known, ANY_EVENT]},
            )
        return list(dict.fromkeys(event_types))

    async def _check_url(self, url: str) -> None:
        """Refuse a URL whose host is, or now resolves to, an address that may not be a target.

        A name that does not resolve yet is accepted: the department's DNS may follow the
        subscription, and every delivery checks the addresses it connects to anyway."""
        try:
            target = parse_target(url)
            await vet(target, timeout=SUBSCRIBE_RESOLVE_SECONDS)
        except TargetInvalid as exc:
            raise UrlInvalid(exc.message, exc.message_en) from exc
        except TargetRefused as exc:
            raise UrlNotAllowed(
                exc.message,
                exc.message_en,
                details={"host": exc.host, "address": str(exc.address), "reason": exc.reason},
            ) from exc
        except TargetUnresolved as exc:
            log.info("webhook.url_unresolved", error=exc.message_en[:200])


webhook_service = WebhookService()
