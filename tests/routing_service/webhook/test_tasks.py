"""Delivery jobs against a real HTTP receiver: signing, retries, dead letters, replay, the sweep
and a real arq worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import text, update
from standardwebhooks.webhooks import Webhook

from routing_service.config import settings
from routing_service.models import WebhookDelivery, WebhookSubscription
from routing_service.webhook.repository import WebhookDeliveryRepository
from routing_service.webhook.service import Attempt, SendResult, webhook_service
from routing_service.webhook.tasks import (
    WEBHOOK_CRON_JOBS,
    WEBHOOK_FUNCTIONS,
    deliver_webhook,
    sweep_webhooks,
)
from services.db import AsyncSessionMaker, run_after_commit
from services.models import utcnow
from services.queue import QueueClient, job_deserializer, job_serializer
from tests.fixtures.environment import RUN_REDIS_URL
from tests.fixtures.org import Org
from tests.routing_service.webhook.helpers import (
    Receiver,
    add_subscription,
    load,
    make_due,
    notify,
    payload_validator,
    sample,
    subscribe,
)

Ctx = dict[str, Any]


def counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value("yingshang_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


async def queue_scores(redis: Redis) -> dict[str, float]:
    return {
        member.decode(): score
        for member, score in await redis.zrange("routing", 0, -1, withscores=True)
    }


async def one_delivery(
    sessionmaker: AsyncSessionMaker, org: Org, url: str, event_type: str = "card.dispatched"
) -> tuple[WebhookSubscription, uuid.UUID]:
    subscription = await add_subscription(sessionmaker, org.units["DEPT-JT"].id, url=url)
    (delivery_id,) = await notify(
        sessionmaker, org.units["DEPT-JT"].id, event_type, sample(event_type, title="c-1")
    )
    return subscription, delivery_id


class TestDeliver:
    async def test_delivered_and_signed_per_standard_webhooks(
        self, ctx: Ctx, org: Org, receiver: Receiver, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        subscription, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        before = counted("delivered")

        assert await deliver_webhook(ctx, str(delivery_id)) == "delivered"

        (request,) = receiver.requests
        headers = request.headers
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == "Yingshang-Webhooks/1.0"
        delivery = await load(routing_sessionmaker, delivery_id)
        assert headers["webhook-id"] == delivery.message_id
        payload = Webhook(subscription.secret).verify(request.body, headers)
        assert payload["type"] == "card.dispatched"
        assert payload["data"]["title"] == "c-1"
        payload_validator("card.dispatched", department=True).validate(payload)
        assert payload == delivery.payload
        with pytest.raises(Exception, match="signature"):
            Webhook(subscription.secret).verify(request.body + b" ", headers)

        assert delivery.status == "delivered"
        assert delivery.attempts == 1
        assert delivery.last_status_code == 200
        assert delivery.delivered_at is not None
        assert delivery.next_attempt_at is None
        assert counted("delivered") == before + 1

    async def test_failures_are_retried_later_and_later(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
    ) -> None:
        receiver.status = 500
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        before = counted("retry")

        gaps = []
        for attempt in (1, 2, 3):
            started = utcnow()
            assert await deliver_webhook(ctx, str(delivery_id)) == "retry"
            delivery = await load(routing_sessionmaker, delivery_id)
            assert delivery.status == "pending"
            assert delivery.attempts == attempt
            assert delivery.last_status_code == 500
            assert delivery.last_error == "HTTP 500: status 500"
            assert delivery.next_attempt_at is not None
            gaps.append(delivery.next_attempt_at - started)
            # The next attempt is already queued, deferred until it is due.
            scores = await queue_scores(redis_client)
            score = scores[f"whd:{delivery_id}:{attempt}"]
            assert abs(score / 1000 - delivery.next_attempt_at.timestamp()) < 1.0
            # Not due yet: a duplicate or early job does nothing.
            assert await deliver_webhook(ctx, str(delivery_id)) == "skipped"
            await make_due(routing_sessionmaker, delivery_id)

        assert timedelta(seconds=5) <= gaps[0] <= timedelta(seconds=7)
        assert timedelta(seconds=30) <= gaps[1] <= timedelta(seconds=37)
        assert timedelta(seconds=120) <= gaps[2] <= timedelta(seconds=145)
        assert len(receiver.requests) == 3
        # Each attempt is signed afresh with the same message id.
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        assert counted("retry") == before + 3

    async def test_receiver_down_for_a_while_misses_nothing(
        self, ctx: Ctx, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        receiver = Receiver()  # not started: connection refused
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        for _ in range(3):
            assert await deliver_webhook(ctx, str(delivery_id)) == "retry"
            delivery = await load(routing_sessionmaker, delivery_id)
            assert delivery.last_status_code is None
            assert delivery.last_error is not None
            assert "ConnectError" in delivery.last_error
            await make_due(routing_sessionmaker, delivery_id)

        receiver.start()
        try:
            assert await deliver_webhook(ctx, str(delivery_id)) == "delivered"
        finally:
            receiver.stop()
        delivery = await load(routing_sessionmaker, delivery_id)
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 4, None)
        assert len(receiver.requests) == 1

    async def test_timeout_is_a_failed_attempt(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "webhook_timeout_seconds", 0.3)
        receiver.delay = 1.0
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        assert await deliver_webhook(ctx, str(delivery_id)) == "retry"
        delivery = await load(routing_sessionmaker, delivery_id)
        assert delivery.last_error == "timeout after 0.3s"
        assert delivery.last_status_code is None

    async def test_redirects_are_not_followed(
        self, ctx: Ctx, org: Org, receiver: Receiver, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        receiver.status = 307
        receiver.headers = {"location": receiver.url("/elsewhere")}
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        assert await deliver_webhook(ctx, str(delivery_id)) == "retry"
        assert [r.path for r in receiver.requests] == ["/hook"]
        assert (await load(routing_sessionmaker, delivery_id)).last_status_code == 307

    async def test_retry_after_is_respected(
        self, ctx: Ctx, org: Org, receiver: Receiver, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        receiver.status = 503
        receiver.headers = {"retry-after": "600"}
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        started = utcnow()
        assert await deliver_webhook(ctx, str(delivery_id)) == "retry"
        delivery = await load(routing_sessionmaker, delivery_id)
        assert delivery.next_attempt_at is not None
        assert delivery.next_attempt_at - started >= timedelta(seconds=600)

    async def test_gone_deactivates_the_subscription(
        self, ctx: Ctx, org: Org, receiver: Receiver, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        receiver.status = 410
        subscription, first = await one_delivery(routing_sessionmaker, org, receiver.url())
        (second,) = await notify(routing_sessionmaker, org.units["DEPT-JT"].id, "card.redo")
        before = counted("dead")

        assert await deliver_webhook(ctx, str(first)) == "dead"
        delivery = await load(routing_sessionmaker, first)
        assert (delivery.status, delivery.last_status_code) == ("dead", 410)
        async with routing_sessionmaker() as session:
            stored = await session.get(WebhookSubscription, subscription.id)
            assert stored is not None
            assert stored.active is False

        # What was still queued for it is dead-lettered without another request,
        assert await deliver_webhook(ctx, str(second)) == "dead"
        assert len(receiver.requests) == 1
        assert (
            await load(routing_sessionmaker, second)
        ).last_error == "订阅已停用 / subscription inactive"
        # and nothing new is written for it.
        assert await notify(routing_sessionmaker, org.units["DEPT-JT"].id) == []
        assert counted("dead") == before + 2

    async def test_dead_letter_after_the_last_attempt_then_replay(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "webhook_max_attempts", 3)
        receiver.status = 502
        headers = org.auth("jt_liaison")
        sub = await subscribe(routing_client, headers, receiver.url())
        (delivery_id,) = await notify(
            routing_sessionmaker, org.units["DEPT-JT"].id, "card.reminder"
        )

        outcomes = []
        for _ in range(3):
            await make_due(routing_sessionmaker, delivery_id)
            outcomes.append(await deliver_webhook(ctx, str(delivery_id)))
        assert outcomes == ["retry", "retry", "dead"]
        delivery = await load(routing_sessionmaker, delivery_id)
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("dead", 3, None)
        assert delivery.last_error == "HTTP 502: status 502"
        assert await deliver_webhook(ctx, str(delivery_id)) == "skipped"
        assert len(receiver.requests) == 3

        dead = await routing_client.get(
            "/v1/webhooks/deliveries", params={"status": "dead"}, headers=headers
        )
        assert [item["id"] for item in dead.json()["items"]] == [str(delivery_id)]

        receiver.status = 200
        await redis_client.flushdb()
        response = await routing_client.post(
            f"/v1/webhooks/deliveries/{delivery_id}/replay", headers=headers
        )
        assert response.status_code == 202
        body = response.json()
        assert (body["status"], body["attempts"]) == ("pending", 0)
        assert f"whd:{delivery_id}:0" in await queue_scores(redis_client)

        assert await deliver_webhook(ctx, str(delivery_id)) == "delivered"
        # The receiver sees the same message id again and can deduplicate.
        assert (
            receiver.requests[-1].headers["webhook-id"]
            == receiver.requests[0].headers["webhook-id"]
        )
        replayed = await routing_client.get(
            f"/v1/webhooks/deliveries/{delivery_id}", headers=headers
        )
        assert replayed.json()["status"] == "delivered"
        again = await routing_client.post(
            f"/v1/webhooks/deliveries/{delivery_id}/replay", headers=headers
        )
        assert again.status_code == 202  # delivered ones can be sent again too

        # Replaying needs an active subscription.
        await routing_client.delete(f"/v1/webhooks/subscriptions/{sub['id']}", headers=headers)
        assert await deliver_webhook(ctx, str(delivery_id)) == "dead"
        refused = await routing_client.post(
            f"/v1/webhooks/deliveries/{delivery_id}/replay", headers=headers
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "subscription_inactive"

    async def test_replay_all_dead_of_a_subscription(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "webhook_max_attempts", 1)
        receiver.status = 500
        headers = org.auth("jt_head")
        sub = await subscribe(routing_client, headers, receiver.url())
        ids = await notify(routing_sessionmaker, org.units["DEPT-JT"].id, "card.dispatched")
        ids += await notify(routing_sessionmaker, org.units["DEPT-JT"].id, "card.redo")
        for delivery_id in ids:
            assert await deliver_webhook(ctx, str(delivery_id)) == "dead"

        receiver.status = 200
        await redis_client.flushdb()
        response = await routing_client.post(
            f"/v1/webhooks/subscriptions/{sub['id']}/replay-dead", headers=headers
        )
        assert response.status_code == 202
        assert response.json() == {"replayed": 2}
        assert set(await queue_scores(redis_client)) == {f"whd:{i}:0" for i in ids}
        for delivery_id in ids:
            assert await deliver_webhook(ctx, str(delivery_id)) == "delivered"
        assert len(receiver.requests) == 4


class TestIdempotency:
    async def test_concurrent_runs_send_once(
        self, ctx: Ctx, org: Org, receiver: Receiver, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        receiver.delay = 0.2
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        outcomes = await asyncio.gather(*(deliver_webhook(ctx, str(delivery_id)) for _ in range(4)))
        assert sorted(outcomes) == ["delivered", "skipped", "skipped", "skipped"]
        assert len(receiver.requests) == 1
        assert await deliver_webhook(ctx, str(delivery_id)) == "skipped"
        assert len(receiver.requests) == 1

    async def test_unknown_or_malformed_ids_are_skipped(self, ctx: Ctx) -> None:
        assert await deliver_webhook(ctx, str(uuid.uuid4())) == "skipped"
        assert await deliver_webhook(ctx, "not-a-uuid") == "skipped"

    async def test_a_superseded_attempt_changes_nothing(
        self, ctx: Ctx, org: Org, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, "http://127.0.0.1:9/")
        async with routing_sessionmaker() as session:
            claimed = await webhook_service.claim(session, delivery_id, now=utcnow())
            await session.commit()
        assert isinstance(claimed, Attempt)
        stale = Attempt(**{**{f: getattr(claimed, f) for f in Attempt.__slots__}, "attempt": 0})
        async with routing_sessionmaker() as session:
            outcome, _ = await webhook_service.record(
                session, stale, SendResult(status_code=200), now=utcnow()
            )
            await session.commit()
        assert outcome == "skipped"
        assert (await load(routing_sessionmaker, delivery_id)).status == "pending"

    async def test_an_attempt_whose_worker_died_is_taken_up_after_its_lease(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
    ) -> None:
        _sub, delivery_id = await one_delivery(routing_sessionmaker, org, receiver.url())
        async with routing_sessionmaker() as session:
            claimed = await webhook_service.claim(session, delivery_id, now=utcnow())
            await session.commit()
        assert isinstance(claimed, Attempt)  # ...and the worker dies before sending

        leased = await load(routing_sessionmaker, delivery_id)
        assert leased.next_attempt_at is not None
        assert leased.next_attempt_at > utcnow()
        assert await sweep_webhooks(ctx) == 0  # in flight: left alone
        assert await deliver_webhook(ctx, str(delivery_id)) == "skipped"

        await make_due(routing_sessionmaker, delivery_id)  # the lease ran out
        assert await sweep_webhooks(ctx) == 1
        assert f"whd:{delivery_id}:1" in await queue_scores(redis_client)
        assert await deliver_webhook(ctx, str(delivery_id)) == "delivered"
        assert (await load(routing_sessionmaker, delivery_id)).attempts == 2


class TestSweep:
    async def test_enqueues_only_due_pending_deliveries(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
    ) -> None:
        await add_subscription(routing_sessionmaker, org.units["DEPT-JT"].id, url=receiver.url())
        due, later, delivered, dead = [
            (await notify(routing_sessionmaker, org.units["DEPT-JT"].id))[0] for _ in range(4)
        ]
        async with routing_sessionmaker() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == later)
                .values(next_attempt_at=utcnow() + timedelta(minutes=5), attempts=2)
            )
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivered)
                .values(status="delivered")
            )
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == dead).values(status="dead")
            )
            await session.commit()

        assert await sweep_webhooks(ctx) == 1
        assert set(await queue_scores(redis_client)) == {f"whd:{due}:0"}
        # A second sweep finds the job already queued.
        assert await sweep_webhooks(ctx) == 0
        assert len(await queue_scores(redis_client)) == 1

    async def test_a_result_left_by_a_failed_job_does_not_block_the_sweep(
        self, ctx: Ctx, org: Org, routing_sessionmaker: AsyncSessionMaker, redis_client: Redis
    ) -> None:
        await add_subscription(routing_sessionmaker, org.units["DEPT-JT"].id)
        (delivery_id,) = await notify(routing_sessionmaker, org.units["DEPT-JT"].id)
        await redis_client.set(f"arq:result:whd:{delivery_id}:0", b"{}")
        assert await sweep_webhooks(ctx) == 1
        assert f"whd:{delivery_id}:0" in await queue_scores(redis_client)
        assert await redis_client.exists(f"arq:result:whd:{delivery_id}:0") == 0

    async def test_batch_is_bounded(
        self,
        ctx: Ctx,
        org: Org,
        routing_sessionmaker: AsyncSessionMaker,
        redis_client: Redis,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from routing_service.webhook import service

        monkeypatch.setattr(service, "SWEEP_BATCH", 3)
        await add_subscription(routing_sessionmaker, org.units["DEPT-JT"].id)
        ids = [(await notify(routing_sessionmaker, org.units["DEPT-JT"].id))[0] for _ in range(5)]
        assert await sweep_webhooks(ctx) == 3
        assert set(await queue_scores(redis_client)) == {
            f"whd:{i}:0" for i in ids[:3]
        }  # oldest first

    async def test_sweep_query_uses_the_partial_index(
        self, routing_sessionmaker: AsyncSessionMaker
    ) -> None:
        """Even as a generic prepared plan (what asyncpg gets after a few runs), the sweep's
        real statement can only use ``ix_webhook_delivery_pending`` if its predicate is the
        literal ``status = 'pending'``."""
        async with routing_sessionmaker() as session:
            stmt = WebhookDeliveryRepository.from_session(session).due_statement(utcnow(), 500)
            sql = str(stmt.compile(dialect=session.get_bind().dialect))
            assert "status = 'pending'" in sql
            await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            await session.execute(text(f"PREPARE webhook_due AS {sql}"))
            plan = "\n".join(
                row[0]
                for row in await session.execute(text("EXPLAIN EXECUTE webhook_due(now(), 500)"))
            )
            await session.execute(text("DEALLOCATE webhook_due"))
        assert "ix_webhook_delivery_pending" in plan, plan


class TestWorker:
    async def test_arq_worker_delivers_what_the_sweep_enqueued(
        self,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        queue_client: QueueClient,
    ) -> None:
        subscription = await add_subscription(
            routing_sessionmaker, org.units["DEPT-JT"].id, url=receiver.url()
        )
        # Fast path: committed and pushed right away.
        async with routing_sessionmaker() as session:
            fast = await webhook_service.notify_unit(
                session, org.units["DEPT-JT"].id, "card.dispatched", sample(title="1")
            )
            await session.commit()
            await run_after_commit(session, queue_client)
        # Lost job (Redis down at commit time): only the row exists until the sweep.
        (lost,) = await notify(
            routing_sessionmaker,
            org.units["DEPT-JT"].id,
            "card.redo",
            sample("card.redo", title="2"),
        )

        async def startup(ctx: Ctx) -> None:
            ctx.update(
                sessionmaker=routing_sessionmaker,
                http=httpx.AsyncClient(),
                queue_client=QueueClient(RUN_REDIS_URL),
            )
            await sweep_webhooks(ctx)

        async def shutdown(ctx: Ctx) -> None:
            await ctx["http"].aclose()
            await ctx["queue_client"].close()

        worker = Worker(
            functions=WEBHOOK_FUNCTIONS,
            queue_name="routing",
            redis_settings=RedisSettings.from_dsn(RUN_REDIS_URL),
            on_startup=startup,
            on_shutdown=shutdown,
            job_serializer=job_serializer,
            job_deserializer=job_deserializer,
            burst=True,
            poll_delay=0,
            handle_signals=False,
        )
        try:
            await worker.main()
        finally:
            await worker.close()

        assert worker.jobs_complete == 2
        assert worker.jobs_failed == 0
        bodies = sorted(json.loads(r.body)["data"]["title"] for r in receiver.requests)
        assert bodies == ["1", "2"]
        for request in receiver.requests:
            Webhook(subscription.secret).verify(request.body, request.headers)
        for delivery_id in (fast[0].id, lost):
            assert (await load(routing_sessionmaker, delivery_id)).status == "delivered"

    def test_job_names_and_schedule(self) -> None:
        (deliver,) = WEBHOOK_FUNCTIONS
        assert deliver.name == "routing.deliver_webhook"
        assert deliver.keep_result_s == 0
        (sweep,) = WEBHOOK_CRON_JOBS
        assert sweep.name == "routing.sweep_webhooks"
        assert sweep.unique
        assert sweep.second == set(range(0, 60, 10))
