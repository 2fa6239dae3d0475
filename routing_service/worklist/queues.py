"""The queues (工作台): named filters of the case and card lists, counted for the caller's scope.

A queue *is* its list's filters: the count runs the same statement the list pages through
(``ListQuery``), so the badge and the list cannot disagree. Every queue is a subset of open
work, read through partial indexes (pending verification, open cards, returned/submitted cards,
pending extensions), so counting costs what is open, not the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.models import Card, Case
from routing_service.worklist.filters import ListQuery
from routing_service.worklist.schemas import CardFilters, CaseFilters, QueueOut, QueuesOut
from services.auth import Principal
from services.policy import is_department, list_scope


@dataclass(frozen=True)
class Queue:
    name: str
    label: str
    of: Literal["cases", "cards"]
    params: dict[str, Any] = field(default_factory=dict)

    def link(self) -> str:
        return f"/v1/{self.of}?{urlencode(self.params, doseq=True)}"


OPEN = ["dispatched", "signed"]

CENTER_QUEUES = (
    Queue(
        "awaiting_verification",
        "待核查",
        "cases",
        {"status": ["pending_verification"], "sort": "received"},
    ),
    Queue(
        "awaiting_dispatch",
        "待派单",
        "cases",
        {"status": ["awaiting_dispatch"], "sort": "received"},
    ),
    Queue("returned", "退单待处理", "cards", {"status": ["returned"]}),
    Queue("extension_requests", "延期待审批", "cards", {"extension": "pending", "status": OPEN}),
    Queue("awaiting_review", "办结待审核", "cards", {"status": ["submitted"]}),
    Queue("due_soon", "即将到期", "cards", {"due_state": "due_soon"}),
    Queue("overdue", "已超期", "cards", {"due_state": "overdue"}),
    Queue("listed", "挂牌督办", "cards", {"ladder": ["listed"], "status": OPEN}),
    Queue("escalated", "提级督办", "cards", {"ladder": ["escalated"], "status": OPEN}),
)
DEPARTMENT_QUEUES = (
    Queue("new", "待签收", "cards", {"status": ["dispatched"]}),
    Queue("in_progress", "办理中", "cards", {"status": ["signed"]}),
    Queue("due_soon", "即将到期", "cards", {"due_state": "due_soon"}),
    Queue("overdue", "已超期", "cards", {"due_state": "overdue"}),
    Queue("sent_back", "审核退回", "cards", {"status": ["signed"], "sent_back": True}),
)


async def _count(
    session: AsyncSession, query: ListQuery, queue: Queue
) -> tuple[int, datetime | None]:
    if queue.of == "cases":
        stmt, _keyset, _tiers = await query.cases(CaseFilters.model_validate(queue.params))
        due = Case.verify_due_at
    else:
        stmt, _keyset = await query.cards(CardFilters.model_validate(queue.params))
        due = Card.due_at
    subquery = stmt.with_only_columns(due.label("due")).order_by(None).subquery()
    count, oldest = (await session.execute(select(func.count(), func.min(subquery.c.due)))).one()
    return int(count), oldest


async def queues_for(session: AsyncSession, principal: Principal) -> QueuesOut:
    department = is_department(principal)
    scope = list_scope(principal)
    query = ListQuery(session, principal)
    out = []
    for queue in DEPARTMENT_QUEUES if department else CENTER_QUEUES:
        count, oldest = await _count(session, query, queue)
        out.append(QueueOut(name=queue.name, label=queue.label, count=count,
                            list=queue.link(), oldest_due_at=oldest))  # fmt: skip
    kind: Literal["district", "center", "department", "all"]
    if department:
        kind = "department"
    elif scope.subtree is None:
        kind = "all"
    else:
        root = await query.units.root()
        kind = "district" if root is not None and root.path == scope.subtree else "center"
    return QueuesOut(scope=kind, unit_code=principal.unit_code, queues=out)
