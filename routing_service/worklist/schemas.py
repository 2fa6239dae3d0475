"""Filters of the case and card lists, and the queues that link to them.

Each filter is a query parameter (repeat a parameter for several values: ``status=a&status=b``);
unknown parameters and values are 422, so a typo never silently widens a list.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from services.filters import check_forwards
from shared.enums import (
    CardStatus,
    CaseStatus,
    Channel,
    Classification,
    RequestType,
    SubmitterKind,
    SupervisionLevel,
    Topic,
    Urgency,
)
from shared.schemas.base import Instant, Schema

UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9@][A-Za-z0-9\-]{0,31}$")]
# 统一社会信用代码: 18 characters of digits and capitals except I, O, S, V, Z.
Uscc = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")]
Cursor = Annotated[
    str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[A-Za-z0-9_\-.]+$")
]


def _many() -> Any:
    """A repeatable filter: up to 20 values (``status=a&status=b``)."""
    return Field(default_factory=list, max_length=20)


DueState = Literal["overdue", "due_soon"]
ExtensionState = Literal["any", "pending", "approved", "rejected", "none"]


class _Filters(Schema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    unit_code: UnitCode | None = Field(None, description="Exactly this unit's work")
    area: UnitCode | None = Field(
        None, description="The subtree under this unit (街道 and its 社区…)"
    )
    topic: list[Topic] = _many()
    channel: list[Channel] = _many()
    type: list[RequestType] = _many()
    urgency: list[Urgency] = _many()
    classification: list[Classification] = _many()
    submitter_kind: SubmitterKind | None = None
    uscc: Uscc | None = Field(None, description="Enterprise credit code (统一社会信用代码)")
    received_from: date | None = Field(None, description="Received on or after (Asia/Shanghai)")
    received_to: date | None = Field(None, description="Received on or before (Asia/Shanghai)")
    due_from: date | None = Field(None, description="A card due on or after (Asia/Shanghai)")
    due_to: date | None = Field(None, description="A card due on or before (Asia/Shanghai)")
    due_state: DueState | None = Field(
        None,
        description="overdue: open and past due; due_soon: due by the end of the next working day",
    )
    ladder: list[SupervisionLevel] = Field(
        default_factory=list, max_length=6, description="督办阶梯"
    )
    extension: ExtensionState | None = Field(None, description="Extension requests (延期申请)")
    redo_min: int | None = Field(None, ge=0, le=100, description="Redone at least this often")
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = None
    with_total: bool = False

    @model_validator(mode="after")
    def _ranges_forwards(self) -> Self:
        check_forwards(self, ("received_from", "received_to"), ("due_from", "due_to"))
        return self

    def fingerprint_params(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"limit", "cursor", "with_total"})


class CaseFilters(_Filters):
    status: list[CaseStatus] = _many()
    closed_from: date | None = None
    closed_to: date | None = None
    q: str | None = Field(
        None,
        max_length=200,
        description="Chinese substring search over title, description, address, tracking number "
        "and enterprise name (2–50 characters), ranked by relevance",
    )
    sort: (
        Literal["due", "-due", "received", "-received", "updated", "-updated", "relevance"] | None
    ) = Field(
        None,
        description="Default: relevance with q, else -received (newest first). due: the next "
        "deadline the case waits on (its earliest running card, or verification); cases with "
        "nothing due are left out of the due sorts",
    )

    @model_validator(mode="after")
    def _closed_forwards(self) -> Self:
        check_forwards(self, ("closed_from", "closed_to"))
        return self


class CardFilters(_Filters):
    status: list[CardStatus] = _many()
    sent_back: bool | None = Field(
        None, description="Sent back by the center's review at least once"
    )
    sort: Literal["due", "-due", "dispatched", "-dispatched", "updated", "-updated"] = "due"


class QueueOut(Schema):
    name: str
    label: str = Field(description="Chinese name of the queue")
    count: int
    list: str = Field(description="The list that shows this queue (same filters)")
    oldest_due_at: Instant | None = Field(None, description="The earliest deadline in the queue")


class QueuesOut(Schema):
    scope: Literal["district", "center", "department", "all"]
    unit_code: str | None
    queues: list[QueueOut]
