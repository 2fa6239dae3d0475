"""Proposed changes, measured before anyone makes them. Only ``python -m bench --only previews``
uses this module; its figures are labelled *preview* and never count as the product's result.

* ``intake_app`` — the shipped intake app with the character bigrams of each text memoised
  (``functools.lru_cache`` on ``intake_service.issue.similarity.bigrams``): the related-request
  check compares a new submission with up to 200 recent ones of its topic and today recomputes
  the bigram set of each of those 200 texts on every submission (~2 ms of CPU); the sets never
  change, so a cache keyed by the text turns that into 200 set intersections (~0.3 ms).
* :func:`batched_tick` — ``SupervisionService.tick`` with the same effects in a constant number
  of statements per batch: the batch's cases locked by one ``SELECT … FOR UPDATE`` (in id order),
  every ``supervision_event`` row inserted by one ``INSERT … ON CONFLICT DO NOTHING RETURNING``,
  each unit's webhook subscriptions read once per tick instead of once per step.
* ``python -m bench.preview worker <service> <poll_delay>`` — the shipped worker with arq's
  ``poll_delay`` (0.5 s by default) overridden.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select


def _patched_intake_app() -> Any:
    import functools

    from intake_service.issue import service, similarity

    cached = functools.lru_cache(maxsize=50_000)(similarity.bigrams)
    similarity.bigrams = cached  # type: ignore[assignment]
    service.bigrams = cached  # type: ignore[attr-defined]
    from intake_service.app import app

    return app


def __getattr__(name: str) -> Any:
    # uvicorn imports "bench.preview:intake_app": patch only in that process.
    if name == "intake_app":
        return _patched_intake_app()
    raise AttributeError(name)


async def batched_tick(
    session: Any, now: datetime | None = None, *, batch: int | None = None
) -> Any:
    """``SupervisionService.tick`` in a constant number of statements per batch (see module doc)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from routing_service.assignment import facts, history
    from routing_service.assignment.repository import CardRepository, UnitRepository
    from routing_service.assignment.service import card_payload, case_service
    from routing_service.config import settings
    from routing_service.deadline import rules
    from routing_service.deadline.calendar import calendar_provider
    from routing_service.deadline.supervision import _NOTICES, _WEBHOOK_TYPE, TickResult
    from routing_service.models import Case, SupervisionEvent
    from routing_service.webhook.repository import WebhookSubscriptionRepository
    from routing_service.webhook.service import webhook_service
    from services.models import utcnow
    from shared.calendar import SHANGHAI
    from shared.enums import SupervisionLevel

    now = now or utcnow()
    cards = await CardRepository.from_session(session).due_for_supervision(
        now, batch or settings.supervision_batch
    )
    result = TickResult(cards=len(cards))
    if not cards:
        return result
    calendar = await calendar_provider.get(session)
    units = await UnitRepository.from_session(session).by_ids([c.unit_id for c in cards])
    case_ids = sorted({c.case_id for c in cards})
    locked = await session.scalars(
        select(Case).where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update()
    )
    cases = {case.id: case for case in locked}
    planned: list[tuple[Any, Any, Any, SupervisionLevel, str]] = []
    for card in cards:
        case, unit = cases[card.case_id], units[card.unit_id]
        level = SupervisionLevel(card.supervision_level)
        for at, step in rules.ladder(
            calendar,
            due_at=card.due_at,
            sign_due_at=card.sign_due_at,
            unsigned=card.signed_at is None,
        ):
            if at > now or rules.RANK[step] <= rules.RANK[level]:
                continue
            notice = _NOTICES[step].format(
                unit=unit.name,
                head=unit.head_name or f"{unit.name}负责人",
                no=case.tracking_no,
                due=card.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                reason="",
            )
            planned.append((card, case, unit, step, notice))
            level = step
        card.supervision_level = level.value
        if level == SupervisionLevel.listed:
            card.listed = True
        case_service.reschedule(calendar, card)
    inserted: set[tuple[uuid.UUID, str]] = set()
    for start in range(0, len(planned), 2000):  # 8 parameters a row, well under 32767
        chunk = planned[start : start + 2000]
        stmt = (
            pg_insert(SupervisionEvent)
            .values(
                [
                    {"id": uuid.uuid4(), "card_id": card.id, "case_id": case.id, "unit_id": unit.id,
                     "level": step.value, "due_at": card.due_at, "at": now, "notice": notice}
                    for card, case, unit, step, notice in chunk
                ]
            )
            .on_conflict_do_nothing()
            .returning(SupervisionEvent.card_id, SupervisionEvent.level)
        )  # fmt: skip
        inserted.update((row.card_id, row.level) for row in await session.execute(stmt))
    subscriptions: dict[uuid.UUID, Any] = {}
    original = WebhookSubscriptionRepository.active_for_unit

    async def once_per_unit(self: Any, unit_id: uuid.UUID) -> Any:
        if unit_id not in subscriptions:
            subscriptions[unit_id] = await original(self, unit_id)
        return subscriptions[unit_id]

    WebhookSubscriptionRepository.active_for_unit = once_per_unit  # type: ignore[method-assign]
    try:
        for card, case, unit, step, notice in planned:
            if (card.id, step.value) not in inserted:
                continue  # another replica already took this step
            result.steps += 1
            history.record(session, case, actor="system:supervision", action=f"supervise.{step.value}",
                           card_id=card.id, reason=notice, data={"level": step.value})  # fmt: skip
            await webhook_service.notify_unit(
                session, unit.id, _WEBHOOK_TYPE[step],
                {**card_payload(case, card, unit), "level": step.value, "notice": notice},
            )  # fmt: skip
    finally:
        WebhookSubscriptionRepository.active_for_unit = original  # type: ignore[method-assign]
    for card in cards:
        facts.card_snapshot(session, card, units[card.unit_id])
    return result


def main() -> None:
    """``python -m bench.preview worker <intake|routing|scoring> <poll_delay seconds>``"""
    import importlib

    from arq.worker import run_worker

    if len(sys.argv) != 4 or sys.argv[1] != "worker":
        raise SystemExit("usage: python -m bench.preview worker <service> <poll_delay>")
    module = importlib.import_module(f"{sys.argv[2]}_service.worker")
    run_worker(module.WorkerSettings, poll_delay=float(sys.argv[3]))


if __name__ == "__main__":
    main()
